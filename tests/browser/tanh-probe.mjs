// Prints what this browser's WebGPU computes for WGSL's tanh at large arguments. burn's GELU
// backward once fed it values near ±100 and got NaN on Chromium's SwiftShader (see src/model/gelu.rs).
// A probe, not part of the tests:   node tests/browser/tanh-probe.mjs
import { chromium } from 'playwright-core';
import http from 'node:http';

const xs = [1, 10, 20, 40, 43, 44, 45, 50, 88, 100, -50, -88, -100];
// navigator.gpu exists only in a secure context: serve an empty page from localhost.
const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html></html>'); });
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const out = await page.evaluate(async (values) => {
    const adapter = await navigator.gpu.requestAdapter();
    const device = await adapter.requestDevice();
    const input = new Float32Array(values);
    const module = device.createShaderModule({ code: `
      @group(0) @binding(0) var<storage, read_write> b: array<f32>;
      @compute @workgroup_size(1) fn main(@builtin(global_invocation_id) i: vec3<u32>) { b[i.x] = tanh(b[i.x]); }` });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const usage = GPUBufferUsage;
    const buffer = device.createBuffer({ size: input.byteLength, usage: usage.STORAGE | usage.COPY_SRC | usage.COPY_DST });
    const readback = device.createBuffer({ size: input.byteLength, usage: usage.MAP_READ | usage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, input);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer } }] }));
    pass.dispatchWorkgroups(input.length);
    pass.end();
    encoder.copyBufferToBuffer(buffer, 0, readback, 0, input.byteLength);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const tanh = Array.from(new Float32Array(readback.getMappedRange()), String);
    return { adapter: `${adapter.info.vendor} ${adapter.info.architecture}`, tanh };
  }, xs);
  console.log(out.adapter);
  xs.forEach((x, i) => console.log(`tanh(${x}) = ${out.tanh[i]}`));
} finally {
  await browser.close();
  server.close();
}
