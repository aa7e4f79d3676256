// llama.cpp's greedy continuation of a list of token ids, with its top 3 candidates per step, to compare with
// `./kestrel logits --tokens ...` on the same GGUF file (set up as in bench.mjs).
//
//   node greedy.mjs MODEL.gguf 1,500,1234,7000 [steps 5]
import {getLlama} from "node-llama-cpp";

const [,, modelPath, ids, steps = "5"] = process.argv;
if (!modelPath || !ids) {
    console.error("usage: node greedy.mjs MODEL.gguf ID,ID,... [steps]");
    process.exit(2);
}
const llama = await getLlama({gpu: false, build: "never", logLevel: "warn"});
const model = await llama.loadModel({modelPath});
const ctx = await model.createContext({contextSize: 256, batchSize: 128, threads: 2});
const seq = ctx.getSequence();
const out = [];
for await (const r of seq.evaluateWithMetadata(ids.split(",").map(Number), {probabilities: true}, {temperature: 0})) {
    const top = [...r.probabilities.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([t]) => t);
    console.log(`step ${out.length + 1}: token ${r.token}, top 3 ${top.join(" ")}`);
    out.push(r.token);
    if (out.length >= +steps) {
        break;
    }
}
console.log("greedy " + out.join(","));
