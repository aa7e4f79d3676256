// llama.cpp on the same GGUF files as Kestrel's EndToEnd, through node-llama-cpp's prebuilt CPU backends
// (npm is reachable where Maven Central is; llama.cpp itself is not packaged for this machine's Debian).
//
//   mkdir -p /tmp/nlc && cd /tmp/nlc && npm init -y && npm install node-llama-cpp@3.22.1 --ignore-scripts
//   cp /path/to/kestrel/bench/llamacpp/bench.mjs . && node bench.mjs MODEL.gguf [prompt 512] [decode 32] [repeats 3]
//
// Same protocol as EndToEnd: 2 threads, a prompt of pseudo-random token ids evaluated as one batch (prefill),
// then greedy single-token steps (decode); one warm-up repeat, then `repeats` measured ones, each in a fresh
// context. ggml picks its CPU variant at run time (on the Zen 5 VM: AVX512, VNNI and BF16).
import {getLlama} from "node-llama-cpp";

const [,, modelPath, promptLen = "512", decodeLen = "32", reps = "3"] = process.argv;
if (!modelPath) {
    console.error("usage: node bench.mjs MODEL.gguf [prompt] [decode] [repeats]");
    process.exit(2);
}
const llama = await getLlama({gpu: false, build: "never", logLevel: "warn"});
console.log(llama.systemInfo);
let t = performance.now();
const model = await llama.loadModel({modelPath});
console.log(`load ${((performance.now() - t) / 1000).toFixed(2)} s`);
const P = +promptLen, D = +decodeLen;
for (let r = 0; r <= +reps; r++) {
    const ctx = await model.createContext({contextSize: P + D + 16, batchSize: P, threads: 2, sequences: 1});
    const seq = ctx.getSequence();
    const tokens = Array.from({length: P}, (_, i) => 100 + ((i * 7919 + r * 13) % 60000));
    t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tokens.slice(0, P - 1));
    const prefill = performance.now() - t;
    t = performance.now();
    let n = 0;
    for await (const token of seq.evaluate([tokens[P - 1]], {temperature: 0})) {
        if (++n >= D) {
            break;
        }
    }
    const decode = performance.now() - t;
    console.log(`${r === 0 ? "warm-up" : "rep " + r}: prefill ${((P - 1) / prefill * 1000).toFixed(1)} tok/s, `
        + `decode ${(D / decode * 1000).toFixed(2)} tok/s`);
    await ctx.dispose();
}
