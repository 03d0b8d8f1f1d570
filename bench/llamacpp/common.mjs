// Shared set-up for the llama.cpp reference scripts: a CPU-only llama.cpp from node-llama-cpp's
// prebuilt binaries, never a build or a download at run time (the machines may be offline).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

/** Parses `--key value` and `--flag` arguments into an object. */
export function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (!a.startsWith("--"))
            throw new Error(`unexpected argument ${JSON.stringify(a)}`);
        const key = a.slice(2);
        const next = argv[i + 1];
        if (next === undefined || next.startsWith("--")) {
            out[key] = true;
        } else {
            out[key] = next;
            i++;
        }
    }
    return out;
}

export function requireArg(args, key, usage) {
    if (args[key] === undefined || args[key] === true)
        fail(`missing --${key}\n${usage}`);
    return args[key];
}

export function intArg(args, key, dflt) {
    if (args[key] === undefined)
        return dflt;
    const v = Number(args[key]);
    if (!Number.isInteger(v) || v < 0)
        fail(`--${key} must be a non-negative integer, got ${JSON.stringify(args[key])}`);
    return v;
}

export function parseTokens(s) {
    const toks = String(s).split(/[ ,]+/).filter(x => x.length > 0).map(Number);
    if (toks.length === 0 || toks.some(t => !Number.isInteger(t) || t < 0))
        fail(`--tokens must be a list of token ids, got ${JSON.stringify(s)}`);
    return toks;
}

export function fail(message) {
    process.stderr.write(`error: ${message}\n`);
    process.exit(2);
}

/**
 * Loads llama.cpp for the CPU and the model at `modelPath` (memory-mapped, no GPU layers).
 * `threads` caps llama.cpp's thread pool so a comparison runs both engines on the same cores.
 */
export async function loadModel(modelPath, threads) {
    const llama = await getLlama({
        gpu: false,
        build: "never",
        usePrebuiltBinaries: true,
        skipDownload: true,
        progressLogs: false,
        logLevel: LlamaLogLevel.error,
        maxThreads: threads
    });
    const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
    return {llama, model};
}
