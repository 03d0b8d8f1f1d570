// Greedy decoding with llama.cpp, for Sluice's parity tests.
//
//   node generate.mjs --model M.gguf --tokens "1 403 407" [--n 16] [--threads 1] [--top 8]
//
// Feeds the token ids as given (no BOS is added: put it in the list), then greedily decodes --n
// tokens (EOS included: generation does not stop early). Prints one JSON object on stdout:
//   {"tokens": [...generated ids...],
//    "steps": [{"top": [[id, logprob], ...]}, ...]}   (with --top K: the K most likely tokens of
//                                                      every step, log-probabilities at temperature 1)
// The log-probability gap between the first two entries of a step is the logit margin of the
// greedy choice there (log p_i - log p_j = logit_i - logit_j).
import {parseArgs, requireArg, intArg, parseTokens, loadModel} from "./common.mjs";

const usage = "usage: node generate.mjs --model M.gguf --tokens \"1 2 3\" [--n 16] [--threads 1] [--top 0]";
const args = parseArgs(process.argv.slice(2));
const modelPath = requireArg(args, "model", usage);
const prompt = parseTokens(requireArg(args, "tokens", usage));
const n = intArg(args, "n", 16);
const threads = intArg(args, "threads", 1);
const top = intArg(args, "top", 0);

const {llama, model} = await loadModel(modelPath, threads);
const context = await model.createContext({
    contextSize: Math.max(64, prompt.length + n + 8),
    batchSize: Math.max(32, prompt.length),
    sequences: 1,
    threads,
    flashAttention: false
});
const sequence = context.getSequence();

const tokens = [];
const steps = [];
if (n > 0) {
    // temperature 0 selects llama.cpp's greedy sampler; the probabilities it reports are the
    // softmax of the raw logits, which gives the margins without a second pass.
    const gen = sequence.evaluateWithMetadata(prompt, {probabilities: top > 0}, {temperature: 0, yieldEogToken: true});
    for await (const out of gen) {
        tokens.push(out.token);
        if (top > 0) {
            const ranked = [...out.probabilities.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
            steps.push({top: ranked.map(([id, p]) => [id, Math.log(p)])});
        }
        if (tokens.length >= n)
            break;
    }
}
process.stdout.write(JSON.stringify(top > 0 ? {tokens, steps} : {tokens}) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
