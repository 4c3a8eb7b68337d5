// Prints what this browser's WebGPU computes for WGSL's tanh at large arguments (burn's GELU backward
// once fed it ~100 and got NaN on Chromium's SwiftShader: see src/model/gelu.rs). Not part of the tests.
//   node tests/browser/tanh-probe.mjs
import { chromium } from 'playwright-core';
const browser=await chromium.launch({executablePath:'/usr/bin/chromium',headless:true,args:['--no-sandbox','--enable-unsafe-webgpu']});
const page=await (await browser.newContext()).newPage();
import http from 'node:http';
const srv=http.createServer((q,r)=>{r.writeHead(200,{'content-type':'text/html'});r.end('<html></html>')});
await new Promise(r=>srv.listen(0,'127.0.0.1',r));
await page.goto(`http://127.0.0.1:${srv.address().port}/`);
const out=await page.evaluate(async()=>{
  const a=await navigator.gpu.requestAdapter(); const d=await a.requestDevice();
  const xs=new Float32Array([1,10,20,40,43,44,45,50,88,100,-50]);
  const code=`@group(0) @binding(0) var<storage,read_write> b: array<f32>;
  @compute @workgroup_size(1) fn main(@builtin(global_invocation_id) i: vec3<u32>) { b[i.x] = tanh(b[i.x]); }`;
  const m=d.createShaderModule({code}); const p=d.createComputePipeline({layout:'auto',compute:{module:m,entryPoint:'main'}});
  const buf=d.createBuffer({size:xs.byteLength,usage:GPUBufferUsage.STORAGE|GPUBufferUsage.COPY_SRC|GPUBufferUsage.COPY_DST});
  d.queue.writeBuffer(buf,0,xs);
  const rb=d.createBuffer({size:xs.byteLength,usage:GPUBufferUsage.MAP_READ|GPUBufferUsage.COPY_DST});
  const e=d.createCommandEncoder(); const pass=e.beginComputePass(); pass.setPipeline(p);
  pass.setBindGroup(0,d.createBindGroup({layout:p.getBindGroupLayout(0),entries:[{binding:0,resource:{buffer:buf}}]}));
  pass.dispatchWorkgroups(xs.length); pass.end(); e.copyBufferToBuffer(buf,0,rb,0,xs.byteLength); d.queue.submit([e.finish()]);
  await rb.mapAsync(GPUMapMode.READ); const r=Array.from(new Float32Array(rb.getMappedRange()));
  return {adapter: a.info.architecture+'/'+a.info.vendor, xs:Array.from(xs), tanh:r.map(String)};
});
console.log(JSON.stringify(out)); await browser.close(); srv.close();
