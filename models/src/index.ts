export * from './catalogue.js';
export { convertEsrganLayersModel, type ConvertOptions } from './esrgan/convert.js';
