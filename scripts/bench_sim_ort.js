// The onnxruntime-node side of scripts/bench-sim: the same models, float32, on
// one thread.  Prints one JSON line: seconds of the timed loop (inference only:
// the session and the data are ready before it starts), process CPU seconds
// over the loop, and the accuracy for a data set.
//
//   node bench_sim_ort.js dataset MODEL.onnx IMAGES.idx.gz LABELS.idx.gz LIMIT
//       every image of Fashion-MNIST's IDX files (pixels / 255), one run each
//   node bench_sim_ort.js image MODEL.onnx INPUT.npy REPEAT
//       one warm-up run, then the best of REPEAT runs on a float32 .npy input
//
// onnxruntime-node is found through NODE_PATH (bench_sim.py sets it to the
// cache outside the repository).  Tooling only.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

function readIdx(path) {
    const raw = zlib.gunzipSync(fs.readFileSync(path));
    const rank = raw[3];
    const dims = [];
    for (let i = 0; i < rank; i++) dims.push(raw.readUInt32BE(4 + 4 * i));
    return { dims, data: raw.subarray(4 + 4 * rank) };
}

function readNpy(path) {
    const raw = fs.readFileSync(path);
    const major = raw[6];
    const headerLen = major === 1 ? raw.readUInt16LE(8) : raw.readUInt32LE(8);
    const start = (major === 1 ? 10 : 12) + headerLen;
    const header = raw.toString('latin1', major === 1 ? 10 : 12, start);
    if (!header.includes("'<f4'")) throw new Error(path + ': only little-endian float32 .npy is read');
    const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter(s => s.trim()).map(Number);
    const bytes = raw.subarray(start);
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    return { shape, data };
}

function cpuSeconds(since) {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1e6;
}

async function main() {
    const [mode, model, ...rest] = process.argv.slice(2);
    const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    const input = session.inputNames[0], output = session.outputNames[0];
    if (mode === 'dataset') {
        const [imagesPath, labelsPath, limitText] = rest;
        const images = readIdx(imagesPath), labels = readIdx(labelsPath);
        const [count0, h, w] = images.dims;
        const count = Math.min(count0, Number(limitText));
        const pixels = h * w;
        const scaled = new Float32Array(count * pixels);
        for (let i = 0; i < count * pixels; i++) scaled[i] = images.data[i] / 255;
        let correct = 0;
        const cpu = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < count; i++) {
            const x = new ort.Tensor('float32', scaled.subarray(i * pixels, (i + 1) * pixels), [1, 1, h, w]);
            const y = (await session.run({ [input]: x }))[output].data;
            let best = 0;
            for (let j = 1; j < y.length; j++) if (y[j] > y[best]) best = j;
            correct += best === labels.data[i];
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        console.log(JSON.stringify({ seconds, cpu_seconds: cpuSeconds(cpu), images: count,
                                     accuracy: correct / count, version: require('onnxruntime-node/package.json').version }));
    } else if (mode === 'image') {
        const [npyPath, repeatText] = rest;
        const { shape, data } = readNpy(npyPath);
        const x = new ort.Tensor('float32', data, shape);
        await session.run({ [input]: x });     // warm-up: allocations, kernel selection
        let best = Infinity, bestCpu = Infinity;
        for (let r = 0; r < Number(repeatText); r++) {
            const cpu = process.cpuUsage();
            const t0 = process.hrtime.bigint();
            await session.run({ [input]: x });
            best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
            bestCpu = Math.min(bestCpu, cpuSeconds(cpu));
        }
        console.log(JSON.stringify({ seconds: best, cpu_seconds: bestCpu, images: 1,
                                     version: require('onnxruntime-node/package.json').version }));
    } else {
        throw new Error('mode must be dataset or image');
    }
}

main().catch(e => { console.error('bench_sim_ort.js: ' + e.message); process.exit(1); });
