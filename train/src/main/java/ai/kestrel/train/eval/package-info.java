/**
 * Math-reasoning evaluation and test-time scaling: answer extraction and comparison ({@link ai.kestrel.train.eval.Answers}),
 * DeepConf's confidence measures and votes ({@link ai.kestrel.train.eval.DeepConf}), and the evaluation harness.
 */
package ai.kestrel.train.eval;
