// Greedy decoding with llama.cpp, for Sluice's parity tests.
//
//   node generate.mjs --model M.gguf --tokens "1 403 407;1 300 301" [--n 16] [--threads 1]
//                     [--top 0] [--first-logprobs]
//
// For each prompt (token ids; prompts separated by ';'; no BOS is added: put it in the list), feeds
// the ids and greedily decodes --n tokens (an end-of-generation token does not stop it early).
// Prints one JSON object on stdout:
//   {"runs": [{"prompt": [...], "tokens": [...generated ids...],
//              "steps": [{"top": [[id, logprob], ...]}, ...],     (with --top K)
//              "firstLogprobs": [...vocab floats...]}]}            (with --first-logprobs)
// Log-probabilities are at temperature 1; the difference of two of them is the difference of the
// logits (log p_i - log p_j = l_i - l_j), so top[0][1] - top[1][1] is the greedy choice's margin.
import {parseArgs, requireArg, intArg, parseTokens, loadModel} from "./common.mjs";

const usage = "usage: node generate.mjs --model M.gguf --tokens \"1 2 3[;1 4 5]\" [--n 16] [--threads 1] [--top 0] [--first-logprobs]";
const args = parseArgs(process.argv.slice(2));
const modelPath = requireArg(args, "model", usage);
const prompts = String(requireArg(args, "tokens", usage)).split(";").map(parseTokens);
const n = intArg(args, "n", 16);
const threads = intArg(args, "threads", 1);
const top = intArg(args, "top", 0);
const firstLogprobs = args["first-logprobs"] === true;
const wantProbabilities = top > 0 || firstLogprobs;

const {llama, model} = await loadModel(modelPath, threads);
const longest = Math.max(...prompts.map(p => p.length));
const context = await model.createContext({
    contextSize: Math.max(64, longest + n + 8),
    batchSize: Math.max(32, longest),
    sequences: 1,
    threads,
    flashAttention: false,
    // an F32 KV cache, like Sluice's: the default F16 cache alone moves logits by ~1e-3
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32"
});
const sequence = context.getSequence();
const vocabSize = model.tokens.vocabSize ?? model.fileInsights?.vocabSize;

const runs = [];
for (const prompt of prompts) {
    await sequence.clearHistory();
    const run = {prompt, tokens: []};
    if (top > 0)
        run.steps = [];
    if (n > 0) {
        // temperature 0 selects llama.cpp's greedy sampler; the probabilities it reports are the
        // softmax of the raw logits, which gives the margins without a second pass.
        const gen = sequence.evaluateWithMetadata(prompt, {probabilities: wantProbabilities},
            {temperature: 0, yieldEogToken: true});
        for await (const out of gen) {
            run.tokens.push(out.token);
            if (wantProbabilities) {
                const entries = [...out.probabilities.entries()];
                if (top > 0) {
                    // probabilities that underflowed to 0 have no finite log: leave them out
                    const ranked = entries.filter(e => e[1] > 0).sort((a, b) => b[1] - a[1]).slice(0, top);
                    run.steps.push({top: ranked.map(([id, p]) => [id, Math.log(p)])});
                }
                if (firstLogprobs && run.tokens.length === 1) {
                    const lp = new Array(vocabSize ?? entries.length).fill(null);
                    for (const [id, p] of out.probabilities.entries())
                        lp[id] = p > 0 ? Math.log(p) : null;
                    run.firstLogprobs = lp;
                }
            }
            if (run.tokens.length >= n)
                break;
        }
    }
    runs.push(run);
}
process.stdout.write(JSON.stringify({runs}) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
