import fs from 'node:fs';
import path from 'node:path';
import type { BlobRepository } from '../store/blob.repository.js';
import { probe, runFfmpeg, type Probe } from './ffmpeg.js';

export const DEMO = { width: 1920, height: 1080, fps: 24, seconds: 4 } as const;

/**
 * Generates the demo shot: ffmpeg's test source at 1920x1080, 24 fps, with a moving pattern and
 * detail to upscale, encoded as a short-GOP H.264 mp4 so that scrubbing is smooth.
 */
export async function generateDemoShot(
  blobs: BlobRepository,
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
 * The first-start demo: a landscape a newcomer can try every fix on. No photograph with a shipping
 * licence is installed on a plain Debian server (gnome-backgrounds 43 holds renders, not photos), so
 * the landscape is painted by ffmpeg (sky with clouds, a shaded ridge, a textured field): a
 * photo-like procedural scene, our fallback (docs/media.md#the-demo). Over it: a slow camera move, film
 * grain, a warm-green colour cast and a dark drone crossing the frame (for remove object). v002 is a
 * cleaner re-delivery; a second shot moves the other way with another grade (for match grade).
 */
/** 720p keeps the first start quick (three movies in a few seconds) and the room light. */
export const SHOWCASE = { width: 1280, height: 720, fps: 24, seconds: 4 } as const;

export interface ShowcaseMovie {
  /** What the version is, as the versions panel shows it. */
  label: string;
  sha256: string;
  /** A JPEG poster (the middle frame). */
  thumbnail: string;
  probe: Probe;
}
export interface ShowcaseShot {
  name: string;
  versions: ShowcaseMovie[];
}

/** Each channel of the landscape: sky over y0 (the ridge line), ridge down to y1, then the field. */
function landscapeExpr(sky: [number, number, number], ridge: [number, number, number], field: [number, number, number], c: number): string {
  const lines =
    'st(0,0.42*H+40*sin(X/97)+22*sin(X/41+1.3)+9*sin(X/13+0.7)+3*sin(X/4.3));' +
    'st(1,0.64*H+26*sin(X/150+2)+11*sin(X/37+0.4)+4*sin(X/9)+2*sin(X/3.7));' +
    'st(2,random(3)-0.5);' +
    'st(4,0.4*cos(X/97)+0.5*cos(X/41+1.3)+0.7*cos(X/13+0.7))';
  const clouds = 'max(0,sin(X/90+Y/31)*sin(X/47-Y/19)+0.3*sin(X/13+Y/7))';
  const skyV = `${sky[c]}+${[68, 58, 26][c]}*Y/H+${[40, 38, 30][c]}*${clouds}`;
  const ridgeV = `${ridge[c]}+${[26, 22, 16][c]}*(Y-ld(0))/H+${[28, 24, 18][c]}*ld(4)+${[30, 30, 24][c]}*ld(2)`;
  const fieldV = `${field[c]}+${[50, 36, 22][c]}*(Y-ld(1))/H+${[44, 48, 30][c]}*ld(2)+${[16, 18, 8][c]}*sin(X/${[53, 43, 53][c]})*sin(Y/${[17, 13, 17][c]})`;
  return `${lines};clip(if(lt(Y,ld(0)),${skyV},if(lt(Y,ld(1)),${ridgeV},${fieldV})),0,255)`;
}

export async function generateShowcase(blobs: BlobRepository, tmpDir: string, onProgress?: (done: number, total: number) => void): Promise<ShowcaseShot[]> {
  fs.mkdirSync(tmpDir, { recursive: true });
  const base = path.join(tmpDir, `showcase-${process.pid}-${Date.now()}`);
  const still = `${base}-still.png`;
  const rgb = (c: number) => landscapeExpr([112, 150, 214], [92, 100, 118], [78, 104, 52], c);
  await runFfmpeg(['-f', 'lavfi', '-i', `color=c=black:s=800x450:d=1,format=rgb24,geq=r='${rgb(0)}':g='${rgb(1)}':b='${rgb(2)}',gblur=sigma=0.6,scale=${SHOWCASE.width * 1.25}:${SHOWCASE.height * 1.25}:flags=bicubic`, '-frames:v', '1', '-y', still]);

  const { width, height, fps, seconds } = SHOWCASE;
  const total = 3 * fps * seconds;
  let done = 0;
  const drone = `color=c=0x1c1d1f:s=120x44:r=${fps}:d=${seconds},format=rgba,geq=r='28':g='29':b='31':a='255*lt(pow((X-60)/60,2)+pow((Y-22)/22,2),1)'`;
  /** One movie: the camera move `crop` over the still, then what the shot has on top. */
  const movie = async (name: string, crop: string, look: string, withDrone: boolean): Promise<string> => {
    const out = `${base}-${name}.mp4`;
    // The still is decoded once and repeated (decoding it per frame would cost more than the move).
    const scene = `[0:v]loop=loop=${fps * seconds - 1}:size=1:start=0,setpts=N/(${fps}*TB),crop=${width}:${height}:${crop},setsar=1[bg]`;
    const graph = withDrone
      ? `${scene};[1:v]format=rgba[obj];[bg][obj]overlay=x='-160+t*${Math.round((width + 320) / seconds)}':y='${Math.round(height * 0.3)}+26*sin(t*3)':shortest=1,${look},format=yuv420p[v]`
      : `${scene};[bg]${look},format=yuv420p[v]`;
    const before = done;
    await runFfmpeg(
      [
        '-framerate', String(fps), '-i', still,
        ...(withDrone ? ['-f', 'lavfi', '-i', drone] : []),
        '-filter_complex', graph, '-map', '[v]', '-frames:v', String(fps * seconds),
        '-c:v', 'libx264', '-preset', 'superfast', '-crf', '20', '-g', '12', '-pix_fmt', 'yuv420p',
        '-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-movflags', '+faststart', '-y', out,
      ],
      (p) => onProgress?.((done = before + p.frame), total),
    );
    done = before + fps * seconds;
    return out;
  };
  const stored = async (label: string, file: string): Promise<ShowcaseMovie> => {
    const poster = `${file}.jpg`;
    await runFfmpeg(['-ss', String(seconds / 2), '-i', file, '-frames:v', '1', '-vf', 'scale=480:-2', '-q:v', '4', '-y', poster]);
    const info = await probe(file);
    const made = { label, probe: info, sha256: await blobs.putFile(file), thumbnail: await blobs.putFile(poster) };
    fs.rmSync(file, { force: true });
    fs.rmSync(poster, { force: true });
    return made;
  };
  // The still is 1.25 times the frame: the camera moves over the spare 320 x 180 pixels.
  const pan = `x='40+t*${Math.round(200 / seconds)}':y='100-t*5'`;
  // v001: grain, a warm-green cast and the drone; v002: the re-delivery, cleaner, no drone.
  const v1 = await movie('a1', pan, 'colorchannelmixer=rr=1.07:gg=1.03:bb=0.86,noise=alls=10:allf=t', true);
  const v2 = await movie('a2', pan, 'colorchannelmixer=rr=1.01:bb=0.98,noise=alls=4:allf=t', false);
  // The reverse angle, lower on the field, in a cool contrasty grade.
  const b1 = await movie('b1', `x='300-t*${Math.round(200 / seconds)}':y='150+t*4'`, 'eq=contrast=1.12:saturation=1.25:gamma=0.92,colorchannelmixer=rr=0.9:gg=0.98:bb=1.08,noise=alls=8:allf=t', false);
  fs.rmSync(still, { force: true });
  return [
    { name: 'Demo valley (grain, cast, a drone crossing)', versions: [await stored('Plate: grain, cast, drone', v1), await stored('Re-delivery: cleaner', v2)] },
    { name: 'Demo valley, reverse (another grade)', versions: [await stored('Reverse angle, cool grade', b1)] },
  ];
}
