/**
 * WebGL2 drawing of one picture (a video frame or an image) through the viewer's image controls.
 * The maths is grade.ts's, line for line; the LUT is a 3D texture read with texelFetch and
 * interpolated here (hardware filtering of float textures is optional in WebGL2, and 8-bit
 * filter weights on some GPUs would band).
 */
import type { Lut3d, PictureChannel } from '@loupe/shared';
import { LUMA, REC709_TO_REC2020, type Display, type Grade } from './grade';

const VERTEX = `#version 300 es
in vec2 a_pos;
out vec2 v_uv;
void main() {
  // Picture row 0 at the top of the canvas.
  v_uv = vec2(a_pos.x * 0.5 + 0.5, 0.5 - a_pos.y * 0.5);
  gl_Position = vec4(a_pos, 0.0, 1.0);
}`;

const f = (n: number) => n.toFixed(6);

const FRAGMENT = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler3D;
uniform sampler2D u_image;
uniform sampler3D u_lut;
uniform bool u_hasLut;
uniform int u_lutSize;
uniform vec3 u_lutMin;
uniform vec3 u_lutMax;
uniform float u_gain;
uniform float u_invGamma;
uniform int u_display;
uniform int u_channel;
in vec2 v_uv;
out vec4 outColor;

vec3 toLinear(vec3 v) {
  vec3 a = abs(v);
  vec3 l = mix(pow((a + 0.055) / 1.055, vec3(2.4)), a / 12.92, vec3(lessThanEqual(a, vec3(0.04045))));
  return sign(v) * l;
}
vec3 toSrgb(vec3 v) {
  vec3 a = abs(v);
  vec3 e = mix(1.055 * pow(a, vec3(1.0 / 2.4)) - 0.055, a * 12.92, vec3(lessThanEqual(a, vec3(0.0031308))));
  return sign(v) * e;
}
vec3 lutAt(ivec3 p) { return texelFetch(u_lut, p, 0).rgb; }
vec3 applyLut(vec3 c) {
  vec3 t = clamp((c - u_lutMin) / (u_lutMax - u_lutMin), 0.0, 1.0);
  vec3 p = t * float(u_lutSize - 1);
  ivec3 i = min(ivec3(floor(p)), ivec3(u_lutSize - 2));
  vec3 fr = p - vec3(i);
  vec3 c00 = mix(lutAt(i), lutAt(i + ivec3(1, 0, 0)), fr.r);
  vec3 c10 = mix(lutAt(i + ivec3(0, 1, 0)), lutAt(i + ivec3(1, 1, 0)), fr.r);
  vec3 c01 = mix(lutAt(i + ivec3(0, 0, 1)), lutAt(i + ivec3(1, 0, 1)), fr.r);
  vec3 c11 = mix(lutAt(i + ivec3(0, 1, 1)), lutAt(i + ivec3(1, 1, 1)), fr.r);
  return mix(mix(c00, c10, fr.g), mix(c01, c11, fr.g), fr.b);
}
void main() {
  vec4 src = texture(u_image, v_uv);
  vec3 lin = toLinear(src.rgb) * u_gain;
  if (u_hasLut) lin = toLinear(applyLut(toSrgb(lin)));
  vec3 d;
  if (u_display == 3) d = lin;
  else if (u_display == 1) d = pow(max(lin, 0.0), vec3(1.0 / 2.4));
  else if (u_display == 2) {
    // GLSL matrices are column-major: the transpose of the row-major table.
    mat3 m = transpose(mat3(${REC709_TO_REC2020.map(f).join(', ')}));
    d = pow(max(m * lin, 0.0), vec3(1.0 / 2.4));
  } else d = toSrgb(lin);
  d = pow(max(d, 0.0), vec3(u_invGamma));
  float a = src.a;
  if (u_channel == 1) outColor = vec4(vec3(clamp(d.r, 0.0, 1.0)), 1.0);
  else if (u_channel == 2) outColor = vec4(vec3(clamp(d.g, 0.0, 1.0)), 1.0);
  else if (u_channel == 3) outColor = vec4(vec3(clamp(d.b, 0.0, 1.0)), 1.0);
  else if (u_channel == 4) outColor = vec4(vec3(a), 1.0);
  else if (u_channel == 5) outColor = vec4(vec3(clamp(dot(d, vec3(${LUMA.map(f).join(', ')})), 0.0, 1.0)), 1.0);
  else outColor = vec4(clamp(d, 0.0, 1.0), a);
}`;

const DISPLAY_INDEX: Record<Display, number> = { srgb: 0, rec709: 1, rec2020: 2, linear: 3 };
const CHANNEL_INDEX: Record<PictureChannel, number> = { rgb: 0, r: 1, g: 2, b: 3, a: 4, luma: 5 };

export type PictureSource = HTMLVideoElement | HTMLImageElement | ImageBitmap | HTMLCanvasElement;

export class PictureRenderer {
  private readonly gl: WebGL2RenderingContext;
  private readonly program: WebGLProgram;
  private readonly image: WebGLTexture;
  private readonly lutTex: WebGLTexture;
  private lutLoaded: Lut3d | null = null;
  private readonly loc: Record<string, WebGLUniformLocation | null> = {};

  /** Throws when the browser has no WebGL2 (the caller says so and shows the plain picture). */
  constructor(readonly canvas: HTMLCanvasElement) {
    const gl = canvas.getContext('webgl2', { premultipliedAlpha: false, preserveDrawingBuffer: true, antialias: false });
    if (!gl) throw new Error('This browser has no WebGL2: image controls are off.');
    this.gl = gl;
    this.program = link(gl, VERTEX, FRAGMENT);
    gl.useProgram(this.program);
    for (const u of ['u_image', 'u_lut', 'u_hasLut', 'u_lutSize', 'u_lutMin', 'u_lutMax', 'u_gain', 'u_invGamma', 'u_display', 'u_channel']) {
      this.loc[u] = gl.getUniformLocation(this.program, u);
    }
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const pos = gl.getAttribLocation(this.program, 'a_pos');
    gl.enableVertexAttribArray(pos);
    gl.vertexAttribPointer(pos, 2, gl.FLOAT, false, 0, 0);
    this.image = texture(gl, gl.TEXTURE_2D);
    this.lutTex = texture(gl, gl.TEXTURE_3D);
    gl.uniform1i(this.loc.u_image, 0);
    gl.uniform1i(this.loc.u_lut, 1);
  }

  /** Draws the source at its own pixel size (one canvas pixel per picture pixel). */
  draw(source: PictureSource, width: number, height: number, g: Grade): void {
    const gl = this.gl;
    if (width <= 0 || height <= 0) return;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    gl.viewport(0, 0, width, height);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.image);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    // The picture's own values, not converted to the screen's colour space by the browser.
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, source);
    this.setLut(g.lut);
    gl.uniform1i(this.loc.u_hasLut, g.lut ? 1 : 0);
    gl.uniform1f(this.loc.u_gain, Math.pow(2, g.exposure));
    gl.uniform1f(this.loc.u_invGamma, 1 / g.gamma);
    gl.uniform1i(this.loc.u_display, DISPLAY_INDEX[g.display]);
    gl.uniform1i(this.loc.u_channel, CHANNEL_INDEX[g.channel]);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  private setLut(lut: Lut3d | null): void {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_3D, this.lutTex);
    if (lut && lut !== this.lutLoaded) {
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texImage3D(gl.TEXTURE_3D, 0, gl.RGB32F, lut.size, lut.size, lut.size, 0, gl.RGB, gl.FLOAT, lut.data);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
      this.lutLoaded = lut;
    }
    if (lut) {
      gl.uniform1i(this.loc.u_lutSize, lut.size);
      gl.uniform3fv(this.loc.u_lutMin, lut.domainMin);
      gl.uniform3fv(this.loc.u_lutMax, lut.domainMax);
    }
    gl.activeTexture(gl.TEXTURE0);
  }

  dispose(): void {
    const gl = this.gl;
    gl.deleteTexture(this.image);
    gl.deleteTexture(this.lutTex);
    gl.deleteProgram(this.program);
  }
}

function texture(gl: WebGL2RenderingContext, target: number): WebGLTexture {
  const t = gl.createTexture()!;
  gl.bindTexture(target, t);
  // One texel per canvas pixel: nearest is exact (zooming in shows square pixels, as reviewers want).
  gl.texParameteri(target, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(target, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(target, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(target, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  if (target === gl.TEXTURE_3D) gl.texParameteri(target, gl.TEXTURE_WRAP_R, gl.CLAMP_TO_EDGE);
  return t;
}

function link(gl: WebGL2RenderingContext, vs: string, fs: string): WebGLProgram {
  const compile = (type: number, src: string) => {
    const s = gl.createShader(type)!;
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(s)}`);
    return s;
  };
  const p = gl.createProgram()!;
  gl.attachShader(p, compile(gl.VERTEX_SHADER, vs));
  gl.attachShader(p, compile(gl.FRAGMENT_SHADER, fs));
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`shader: ${gl.getProgramInfoLog(p)}`);
  return p;
}
