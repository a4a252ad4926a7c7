import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlobStore } from '../store/blob.repository.js';
import { probe, runFfmpeg, type Probe } from './ffmpeg.js';

export const DEMO = { width: 1920, height: 1080, fps: 24, seconds: 4 } as const;

/**
 * Generates the demo shot: ffmpeg's test source at 1920x1080, 24 fps, with a moving pattern and
 * detail to upscale, encoded as a short-GOP H.264 mp4 so that scrubbing is smooth.
 */
export async function generateDemoShot(
  blobs: BlobStore,
  tmpDir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<{ sha256: string; probe: Probe }> {
  fs.mkdirSync(tmpDir, { recursive: true });
  const out = path.join(tmpDir, `demo-${process.pid}-${Date.now()}.mp4`);
  const total = DEMO.fps * DEMO.seconds;
  await runFfmpeg(
    [
      '-f', 'lavfi', '-i', `testsrc2=size=${DEMO.width}x${DEMO.height}:rate=${DEMO.fps}:duration=${DEMO.seconds}`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-g', '12', '-pix_fmt', 'yuv420p',
      '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709',
      '-movflags', '+faststart', '-y', out,
    ],
    (p) => onProgress?.(p.frame, total),
  );
  const info = await probe(out);
  const sha256 = await blobs.putFile(out);
  return { sha256, probe: info };
}

/**
 * The first-start demo: a photograph a newcomer can try every fix on, Cold Ripple (a KDE wallpaper
 * from Debian's plasma-workspace-wallpapers; server/assets/demo/README.md: source, author, licence):
 * a wooden pier running into a grey, foggy lake. Filmed by ffmpeg: a slow camera move and film grain;
 * on the pier's v001 a warm-green cast (the fog and the weathered wood are grey, so the exposure &
 * white-balance fix finds the light and removes it) and a drone crossing the fog (for remove object).
 * v002 is the colourist's re-delivery (the cast corrected); a second shot of the same pier from lower
 * down is graded warm and contrasty with teal shadows (for match grade).
 */
/** 720p keeps the first start quick (three movies in a few seconds) and the room light. */
export const SHOWCASE = { width: 1280, height: 720, fps: 24, seconds: 4 } as const;

/** The photograph (a 1600x1000 JPEG), shipped with the server's sources. */
export const DEMO_ASSETS = fileURLToPath(new URL('../../assets/demo/', import.meta.url));
export const SHOWCASE_PHOTO = 'cold-ripple.jpg';

/** One generated movie of the demo: which shot it belongs to, the version's label and the file. */
export interface ShowcaseMovie {
  shot: string;
  label: string;
  /** A file name like an upload's (what the version's source record keeps). */
  name: string;
  file: string;
}

/**
 * v001's cast: gains on linear light (R, G, B), warm and a little green, scaled so that a grey keeps
 * its luminance (what a camera set for daylight records under a warm, greenish light).
 */
export const SHOWCASE_CAST: readonly [number, number, number] = (() => {
  const raw = [1.12, 1.09, 0.78];
  const y = 0.2126 * raw[0] + 0.7152 * raw[1] + 0.0722 * raw[2];
  return raw.map((g) => +(g / y).toFixed(4)) as [number, number, number];
})();

/** The low angle's grade: warm, contrasty highlights, teal shadows (what match grade takes away). */
export const SHOWCASE_LOW_GRADE = "colorbalance=rs=-0.12:gs=0.02:bs=0.1:rh=0.1:gh=0.03:bh=-0.1,curves=all='0/0 0.25/0.18 0.75/0.84 1/1'";

/** The drone's size in the frame and its path: left to right across the fog, bobbing. */
export const SHOWCASE_DRONE = { width: 132, height: 55, x0: -140, y0: Math.round(SHOWCASE.height * 0.15), bob: 10, bobRate: 2.2 } as const;
const DRONE_SPEED = Math.round((SHOWCASE.width + 280) / SHOWCASE.seconds);

/** Where the drone's picture (SHOWCASE_DRONE's size) has its top-left corner on frame n (ffmpeg's overlay puts it within 1 px of this). */
export function droneAt(n: number): { x: number; y: number } {
  const t = n / SHOWCASE.fps;
  return { x: SHOWCASE_DRONE.x0 + t * DRONE_SPEED, y: SHOWCASE_DRONE.y0 + SHOWCASE_DRONE.bob * Math.sin(t * SHOWCASE_DRONE.bobRate) };
}

/** The drone, drawn at 4x (480x200: body, arms, motors, gimbal, legs, blurred rotors) and scaled down. */
const DRONE =
  "color=c=black:s=480x200:d=1,format=rgba,geq=r='if(lt(Y,80),70,34+14*lt(Y,108))':g='if(lt(Y,80),72,35+14*lt(Y,108))':b='if(lt(Y,80),76,38+14*lt(Y,108))':" +
  "a='255*(lt(pow((X-240)/62,2)+pow((Y-108)/26,2),1)+between(X,70,410)*between(Y,94,104)+between(X,66,94)*between(Y,74,104)+between(X,386,414)*between(Y,74,104)" +
  '+lt(pow((X-240)/16,2)+pow((Y-142)/14,2),1)+between(X,192,199)*between(Y,120,176)+between(X,281,288)*between(Y,120,176)' +
  '+between(X,168,214)*between(Y,172,180)+between(X,266,312)*between(Y,172,180))' +
  `+130*(lt(pow((X-80)/78,2)+pow((Y-70)/6,2),1)+lt(pow((X-400)/78,2)+pow((Y-70)/6,2),1))',gblur=sigma=1.5,scale=${SHOWCASE_DRONE.width}:${SHOWCASE_DRONE.height}:flags=area`;

/** Film grain: temporal noise on luma and chroma, different every frame (the same on every run). */
const GRAIN = 'format=yuv420p,noise=alls=12:allf=t+u';

/** An ffmpeg lutrgb expression: the code value to linear light, times `gain`, back to sRGB. */
const linearGain = (gain: number) =>
  `st(0,val/255);st(0,if(lte(ld(0),0.04045),ld(0)/12.92,pow((ld(0)+0.055)/1.055,2.4))*${gain});` +
  `0.5+255*if(lte(ld(0),0.0031308),12.92*ld(0),1.055*pow(ld(0),1/2.4)-0.055)`;
/** A cast of gains on linear light, as a filter. */
export const castFilter = (g: readonly [number, number, number]) => `lutrgb=r='${linearGain(g[0])}':g='${linearGain(g[1])}':b='${linearGain(g[2])}'`;

/** The camera's moves (ffmpeg crop positions on the still scaled to 2880x1800, over 4 s). */
export const SHOWCASE_MOVES = {
  // The pier: the camera drifts right and a little up (the 2x crop moves 320 x 40 of the still's pixels, 160 x 20 of the frame's, in 4 s).
  pier: `x='t*${320 / SHOWCASE.seconds}':y='120-t*${40 / SHOWCASE.seconds}'`,
  // The pier from lower down (more planks, less fog), the camera drifting left.
  low: `x='320-t*${240 / SHOWCASE.seconds}':y='360-t*${40 / SHOWCASE.seconds}'`,
} as const;

/** What one movie of the demo is: the camera's move, a look (filters), the drone or not, grain or not. */
export interface Take {
  move: string;
  look?: string;
  drone?: boolean;
  grain?: boolean;
}

/**
 * Films one take into `out` (H.264 mp4, like a camera's), 96 frames. The still is supersampled twice
 * over so that the slow move steps half a pixel at a time. Exported for the tests, which film the truth
 * (the same take without the cast, the drone or the grain) to measure the fixes against.
 */
export async function filmTake(out: string, take: Take, onFrame?: (n: number) => void): Promise<void> {
  const { width, height, fps, seconds } = SHOWCASE;
  const frames = fps * seconds;
  const finish = take.grain === false ? 'format=yuv420p' : GRAIN;
  // The look (a cast, a grade: per-pixel colour) is applied to the still and to the drone once, not to
  // every frame; the still is decoded, graded and scaled once, then repeated (doing it per frame would
  // cost more than the move), and the move works on 4:2:0 (half the pixels of the JPEG's 4:4:4).
  const look = take.look ? `${take.look},` : '';
  const scene =
    `[0:v]${look}format=yuv420p,scale=${width * 2.25}:${height * 2.5}:flags=bicubic,loop=loop=${frames - 1}:size=1:start=0,setpts=N/(${fps}*TB),` +
    `crop=${width * 2}:${height * 2}:${take.move},scale=${width}:${height}:flags=area,setsar=1`;
  let droneFile: string | null = null;
  if (take.drone) {
    droneFile = `${out}-drone.png`;
    await runFfmpeg(['-f', 'lavfi', '-i', DRONE, '-frames:v', '1', '-y', droneFile]);
  }
  const { x0, y0, bob, bobRate } = SHOWCASE_DRONE;
  const graph = take.drone
    ? `${scene}[bg];[1:v]${look}format=rgba[drone];[bg][drone]overlay=x='${x0}+t*${DRONE_SPEED}':y='${y0}+${bob}*sin(t*${bobRate})':shortest=1,${finish}[v]`
    : `${scene},${finish}[v]`;
  try {
    await runFfmpeg(
      [
        '-framerate', String(fps), '-i', path.join(DEMO_ASSETS, SHOWCASE_PHOTO),
        ...(droneFile ? ['-loop', '1', '-framerate', String(fps), '-i', droneFile] : []),
        '-filter_complex', graph, '-map', '[v]', '-frames:v', String(frames),
        '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '20', '-g', '12', '-pix_fmt', 'yuv420p',
        '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-movflags', '+faststart', '-y', out,
      ],
      (p) => onFrame?.(p.frame),
    );
  } finally {
    if (droneFile) fs.rmSync(droneFile, { force: true });
  }
}

/** The demo's takes: the pier's v001 and v002, and the low angle. */
export const SHOWCASE_TAKES = {
  pierV1: { move: SHOWCASE_MOVES.pier, look: castFilter(SHOWCASE_CAST), drone: true },
  pierV2: { move: SHOWCASE_MOVES.pier, drone: true },
  low: { move: SHOWCASE_MOVES.low, look: SHOWCASE_LOW_GRADE },
} satisfies Record<string, Take>;

/** Films the demo's three movies into `tmpDir`: the caller ingests them as uploads. */
export async function generateShowcase(tmpDir: string, onProgress?: (done: number, total: number) => void): Promise<ShowcaseMovie[]> {
  fs.mkdirSync(tmpDir, { recursive: true });
  const base = path.join(tmpDir, `showcase-${process.pid}-${Date.now()}`);
  const frames = SHOWCASE.fps * SHOWCASE.seconds;
  const total = 3 * frames;
  const filmed = [0, 0, 0];
  const film = async (k: number, name: string, take: Take) => {
    const out = `${base}-${name}`;
    const report = (n: number) => ((filmed[k] = n), onProgress?.(filmed.reduce((a, b) => a + b, 0), total));
    await filmTake(out, take, report);
    report(frames);
    return out;
  };
  // The three are filmed side by side: each ffmpeg's filters run mostly on one core.
  const [a1, a2, b1] = await Promise.all([
    film(0, 'a1.mp4', SHOWCASE_TAKES.pierV1),
    film(1, 'a2.mp4', SHOWCASE_TAKES.pierV2),
    film(2, 'b1.mp4', SHOWCASE_TAKES.low),
  ]);
  return [
    { shot: SHOWCASE_SHOTS.pier, label: 'Plate: grain, warm-green cast, drone', name: 'pier_v001.mp4', file: a1 },
    { shot: SHOWCASE_SHOTS.pier, label: 'Re-delivery: cast corrected', name: 'pier_v002.mp4', file: a2 },
    { shot: SHOWCASE_SHOTS.low, label: 'Low angle, warm contrasty grade', name: 'pier_low_v001.mp4', file: b1 },
  ];
}

/** The demo's shot names. */
export const SHOWCASE_SHOTS = { pier: 'Foggy pier (grain, cast, a drone crossing)', low: 'Foggy pier, low angle (another grade)' } as const;
