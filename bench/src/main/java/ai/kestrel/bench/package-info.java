/**
 * JMH benchmarks, one class per kernel family mirroring {@code ai.kestrel.kernels}, at Falcon-H1-1.5B-Deep
 * shapes. Build with {@code scripts/mvn -pl bench -am package -DskipTests}, run with
 * {@code scripts/bench [JMH options] [regex]}.
 */
package ai.kestrel.bench;
