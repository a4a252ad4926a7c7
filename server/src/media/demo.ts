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
 * The first-start demo: a photograph a newcomer can try every fix on. Each is a KDE wallpaper
 * from Debian's plasma-workspace-wallpapers (server/assets/demo/README.md: source, authors, licence),
 * filmed by ffmpeg: a slow camera move, film grain and, on the lake shore, a warm-green cast and a drone
 * crossing the sky (for remove object). v002 is the colourist's re-delivery (the cast corrected); a
 * second shot of the same shore from lower down is graded cool with lifted blacks (for match grade).
 */
/** 720p keeps the first start quick (three movies in a few seconds) and the room light. */
export const SHOWCASE = { width: 1280, height: 720, fps: 24, seconds: 4 } as const;

/** The photograph (a 1600x1000 JPEG), shipped with the server's sources. */
export const DEMO_ASSETS = fileURLToPath(new URL('../../assets/demo/', import.meta.url));

/** One generated movie of the demo: which shot it belongs to, the version's label and the file. */
export interface ShowcaseMovie {
  shot: string;
  label: string;
  /** A file name like an upload's (what the version's source record keeps). */
  name: string;
  file: string;
}

/** The drone, drawn at 4x (480x200: body, arms, motors, gimbal, legs, blurred rotors) and scaled down. */
const DRONE =
  "color=c=black:s=480x200:d=1,format=rgba,geq=r='if(lt(Y,80),70,34+14*lt(Y,108))':g='if(lt(Y,80),72,35+14*lt(Y,108))':b='if(lt(Y,80),76,38+14*lt(Y,108))':" +
  "a='255*(lt(pow((X-240)/62,2)+pow((Y-108)/26,2),1)+between(X,70,410)*between(Y,94,104)+between(X,66,94)*between(Y,74,104)+between(X,386,414)*between(Y,74,104)" +
  '+lt(pow((X-240)/16,2)+pow((Y-142)/14,2),1)+between(X,192,199)*between(Y,120,176)+between(X,281,288)*between(Y,120,176)' +
  '+between(X,168,214)*between(Y,172,180)+between(X,266,312)*between(Y,172,180))' +
  "+130*(lt(pow((X-80)/78,2)+pow((Y-70)/6,2),1)+lt(pow((X-400)/78,2)+pow((Y-70)/6,2),1))',gblur=sigma=1.5,scale=132:55:flags=area";

/** Film grain: temporal noise on luma and chroma, different every frame. */
const GRAIN = 'format=yuv420p,noise=alls=12:allf=t+u';

/**
 * Films the demo's three movies into `tmpDir` (H.264 mp4, like a camera's): the caller ingests them
 * as uploads. The still is supersampled twice over so that the slow move steps half a pixel at a time.
 */
export async function generateShowcase(tmpDir: string, onProgress?: (done: number, total: number) => void): Promise<ShowcaseMovie[]> {
  fs.mkdirSync(tmpDir, { recursive: true });
  const base = path.join(tmpDir, `showcase-${process.pid}-${Date.now()}`);
  const { width, height, fps, seconds } = SHOWCASE;
  const frames = fps * seconds;
  const total = 3 * frames;
  const filmed = [0, 0, 0];
  const names = ['a1.mp4', 'a2.mp4', 'b1.mp4'];
  const drone = `${base}-drone.png`;
  await runFfmpeg(['-f', 'lavfi', '-i', DRONE, '-frames:v', '1', '-y', drone]);

  /** One movie: `photo` scaled to 2.25 times the frame, the camera's `crop` over it, then `look` and grain. */
  const film = async (name: string, photo: string, crop: string, look: string, withDrone: boolean): Promise<string> => {
    const out = `${base}-${name}`;
    // The still is decoded and scaled once, then repeated (doing it per frame would cost more than the move).
    const scene =
      `[0:v]scale=${width * 2.25}:${height * 2.5}:flags=bicubic,loop=loop=${frames - 1}:size=1:start=0,setpts=N/(${fps}*TB),` +
      `crop=${width * 2}:${height * 2}:${crop},scale=${width}:${height}:flags=area,setsar=1`;
    const graph = withDrone
      ? `${scene}[bg];[bg][1:v]overlay=x='-140+t*${Math.round((width + 280) / seconds)}':y='${Math.round(height * 0.15)}+10*sin(t*2.2)':shortest=1,${look},${GRAIN}[v]`
      : `${scene},${look},${GRAIN}[v]`;
    const k = names.indexOf(name);
    const report = (n: number) => ((filmed[k] = n), onProgress?.(filmed.reduce((a, b) => a + b, 0), total));
    await runFfmpeg(
      [
        '-framerate', String(fps), '-i', path.join(DEMO_ASSETS, photo),
        ...(withDrone ? ['-loop', '1', '-framerate', String(fps), '-i', drone] : []),
        '-filter_complex', graph, '-map', '[v]', '-frames:v', String(frames),
        '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '20', '-g', '12', '-pix_fmt', 'yuv420p',
        '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-movflags', '+faststart', '-y', out,
      ],
      (p) => report(p.frame),
    );
    report(frames);
    return out;
  };
  // The lake shore: the camera drifts right and a little up over the boats (the still's 2x crop moves
  // 320 x 40 of its pixels, 160 x 20 of the frame's, in 4 s).
  const shore = `x='t*${320 / seconds}':y='120-t*${40 / seconds}'`;
  const cast = 'colorchannelmixer=rr=1.03:gg=1.07:bb=0.88';
  // The three are filmed side by side: each ffmpeg's filters run mostly on one core.
  const [a1, a2, b1] = await Promise.all([
    film('a1.mp4', 'evening-glow.jpg', shore, cast, true),
    film('a2.mp4', 'evening-glow.jpg', shore, 'null', true),
    // The boats from lower down, the camera drifting left: graded cool with lifted blacks.
    film('b1.mp4', 'evening-glow.jpg', `x='320-t*${240 / seconds}':y='360-t*${40 / seconds}'`,
      'colorlevels=romin=0.07:gomin=0.08:bomin=0.12,colorchannelmixer=rr=0.9:gg=0.98:bb=1.12,eq=saturation=0.8', false),
  ]);
  const movies: ShowcaseMovie[] = [
    { shot: 'Lake shore (grain, cast, a drone crossing)', label: 'Plate: grain, warm-green cast, drone', name: 'lake_shore_v001.mp4', file: a1 },
    { shot: 'Lake shore (grain, cast, a drone crossing)', label: 'Re-delivery: cast corrected', name: 'lake_shore_v002.mp4', file: a2 },
    { shot: 'Lake shore, low angle (another grade)', label: 'Low angle, cool grade', name: 'lake_shore_low_v001.mp4', file: b1 },
  ];
  fs.rmSync(drone, { force: true });
  return movies;
}
