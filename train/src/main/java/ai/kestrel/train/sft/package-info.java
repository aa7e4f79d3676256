/** Supervised fine-tuning: learning-rate schedules (and, as issue #4 continues, data, the loop and checkpoints). */
package ai.kestrel.train.sft;
