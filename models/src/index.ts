export * from './catalogue.js';
export { checkManifest, type TensorMeta } from './check.js';
export { convertEsrganLayersModel, type ConvertOptions } from './esrgan/convert.js';
export { GraphBuilder, ElemType } from './graphs/builder.js';
export { buildColourGraph, identityColourInputs, PRE_LUT_SIZE, POST_LUT_SIZE } from './graphs/colour.js';
export { buildDenoiseGraph, DENOISE_DEFAULTS, denoiseContext, type DenoiseSettings } from './graphs/denoise.js';
