// llama.cpp speed on one GGUF file, the baseline of Sluice's engine benchmark (dev.sluice.bench.EngineBench).
//
//   node bench.mjs --model M.gguf [--threads 2] [--sequences 1,4,16] [--prompt 128] [--gen 32]
//
// For each sequence count S, one context with S sequences:
//   prefill: S prompts of --prompt tokens evaluated together (no sampling), tokens/s = S*prompt/time;
//   decode:  --gen greedy steps, each step one token for every sequence, submitted concurrently so
//            node-llama-cpp batches them into one llama_decode; tokens/s = S*gen/time.
// A short warm-up run precedes the timed ones. Prints one JSON object:
//   {"model": ..., "threads": T, "results": [{"sequences": S, "prefillTps": x, "decodeTps": y}, ...]}
import {parseArgs, requireArg, intArg, fail, loadModel} from "./common.mjs";

const usage = "usage: node bench.mjs --model M.gguf [--threads 2] [--sequences 1,4,16] [--prompt 128] [--gen 32]";
const args = parseArgs(process.argv.slice(2));
const modelPath = requireArg(args, "model", usage);
const threads = intArg(args, "threads", 2);
const promptLen = intArg(args, "prompt", 128);
const gen = intArg(args, "gen", 32);
const seqCounts = String(args.sequences ?? "1,4,16").split(",").map(Number);
if (seqCounts.some(s => !Number.isInteger(s) || s < 1))
    fail(`--sequences must list positive integers, got ${args.sequences}`);

const {llama, model} = await loadModel(modelPath, threads);
const vocab = model.tokens.vocabSize ?? 256;

// Deterministic prompt tokens from the regular part of the vocabulary (past the byte tokens).
function promptFor(seq) {
    const toks = [];
    let x = 12345 + seq * 7919;
    for (let i = 0; i < promptLen; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        toks.push(3 + (x % Math.max(1, Math.min(vocab, 30000) - 3)));
    }
    return toks;
}

async function run(sequences, promptTokens, genTokens) {
    const context = await model.createContext({
        sequences,
        contextSize: sequences * (promptTokens + genTokens + 16),
        batchSize: Math.max(sequences, Math.min(2048, sequences * promptTokens)),
        threads,
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32"
    });
    const seqs = [];
    for (let i = 0; i < sequences; i++)
        seqs.push(context.getSequence());
    const prompts = seqs.map((_, i) => promptFor(i));

    let t0 = process.hrtime.bigint();
    await Promise.all(seqs.map((s, i) => s.evaluateWithoutGeneratingNewTokens(prompts[i])));
    const prefillS = Number(process.hrtime.bigint() - t0) / 1e9;

    // one greedy token per sequence per step; the concurrent calls form one batch
    let last = prompts.map(p => p[p.length - 1]);
    t0 = process.hrtime.bigint();
    for (let step = 0; step < genTokens; step++) {
        const outs = await Promise.all(seqs.map((s, i) =>
            s.controlledEvaluate([[last[i], {generateNext: {token: true, options: {temperature: 0}}}]])));
        last = outs.map((o, i) => o[0]?.next?.token ?? last[i]);
    }
    const decodeS = Number(process.hrtime.bigint() - t0) / 1e9;
    await context.dispose();
    return {
        sequences,
        promptTokens,
        genTokens,
        prefillTps: sequences * promptTokens / prefillS,
        decodeTps: sequences * genTokens / decodeS
    };
}

await run(1, Math.min(16, promptLen), Math.min(4, gen)); // warm-up: page in weights, JIT the JS
const results = [];
for (const s of seqCounts)
    results.push(await run(s, promptLen, gen));
process.stdout.write(JSON.stringify({model: modelPath, threads, results}) + "\n");
await model.dispose();
await llama.dispose();
