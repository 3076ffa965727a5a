// avi-camera: frames from an RTSP stream, a USB camera or a file through ffmpeg (MJPEG on a pipe), one per trigger or
// at a set rate; ffmpeg is restarted after a drop. Decoding happens later, in the detector's workers.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { ffmpegArgs, JpegStreamParser } from '../core/sources/jpeg-stream';
import { DEFAULT_MAX_QUEUE, num, stoppedBy, watchDeploys, type Done, type Msg, type Send } from './common';
import { message } from './i18n';

interface CameraNodeDef extends NodeDef {
  input: string;
  inputOptions: string;
  mode: 'trigger' | 'rate';
  fps: string | number;
  quality: string | number;
  width: string | number;
  reconnect: string | number;
  frameTimeout: string | number;
  ffmpeg: string;
  maxFrameMB: string | number;
}

interface Waiting {
  msg: Msg;
  send: Send;
  done: Done;
  timer: NodeJS.Timeout;
}

/** How long ffmpeg gets to stop on SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 2000;

export default function (RED: NodeAPI): void {
  function AviCameraNode(this: Node, config: CameraNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const mode = config.mode === 'rate' ? 'rate' : 'trigger';
    const fps = Math.max(0.01, num(config.fps, 5));
    const reconnectMs = Math.max(100, num(config.reconnect, 2000));
    const frameTimeoutMs = Math.max(10, num(config.frameTimeout, 2000));
    const parser = new JpegStreamParser(Math.max(1, num(config.maxFrameMB, 20)) * 1024 * 1024);
    const counts = { received: 0, inspected: 0, skipped: 0, reconnects: 0 };
    const waiting: Waiting[] = [];
    let ffmpeg: ChildProcess | undefined;
    let restartTimer: NodeJS.Timeout | undefined;
    let closing = false;
    let lastError = '';
    /** One warning per outage, not one per reconnect attempt. */
    let warned = false;
    /** This run of ffmpeg has delivered a frame: the stream is up, not just started. */
    let flowing = false;
    let statusAt = 0;

    const status = (force = false): void => {
      const now = Date.now();
      // A stream runs at up to tens of frames a second; the editor needs no more than a few updates.
      if (!force && now - statusAt < 250) return;
      statusAt = now;
      const text = message(RED, 'avi-camera.status.counts', counts);
      // ffmpeg's reason is in the warning; the status stays short beside its neighbours.
      if (!ffmpeg) node.status({ fill: 'red', shape: 'dot', text: `${message(RED, config.input ? 'avi-camera.status.reconnecting' : 'avi-camera.errors.noInput')} · ${text}` });
      else if (!flowing) node.status({ fill: 'blue', shape: 'ring', text: `${message(RED, 'avi-camera.status.connecting')} · ${text}` });
      else node.status({ fill: 'green', shape: 'dot', text: `${message(RED, 'avi-camera.status.streaming')} · ${text}` });
    };

    const onFrame = (jpeg: Buffer): void => {
      counts.received++;
      warned = false;
      const first = !flowing;
      flowing = true;
      const camera = { frame: counts.received, receivedAt: new Date().toISOString(), input: config.input };
      if (mode === 'rate') {
        counts.inspected++;
        node.send({ payload: jpeg, topic: config.name || 'camera', camera } as unknown as Msg);
      } else {
        const next = waiting.shift();
        if (!next) counts.skipped++;
        else {
          clearTimeout(next.timer);
          counts.inspected++;
          next.msg.payload = jpeg;
          next.msg.camera = camera;
          next.send(next.msg);
          next.done();
        }
      }
      status(first);
    };

    const start = (): void => {
      restartTimer = undefined;
      if (closing) return;
      if (!config.input) {
        lastError = message(RED, 'avi-camera.errors.noInput');
        status(true);
        return;
      }
      const args = ffmpegArgs({ input: config.input, inputOptions: config.inputOptions, fps, quality: Math.round(Math.min(31, Math.max(2, num(config.quality, 3)))), width: num(config.width, 0) || undefined });
      parser.reset();
      flowing = false;
      let stderr = '';
      const child = spawn(config.ffmpeg || 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      ffmpeg = child;
      child.stdout!.on('data', (chunk: Buffer) => {
        for (const frame of parser.push(chunk)) onFrame(frame);
      });
      // Keep only the tail of ffmpeg's complaints: enough for the status, bounded.
      child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
      child.on('error', (err) => {
        lastError = err.message;
      });
      child.on('close', (code, signal) => {
        if (ffmpeg === child) ffmpeg = undefined;
        if (closing) return;
        lastError = stderr.trim().split('\n').pop() || lastError || `ffmpeg ended (${signal ?? code})`;
        counts.reconnects++;
        if (!warned) node.warn(message(RED, 'avi-camera.errors.dropped', { error: lastError, seconds: String(reconnectMs / 1000) }));
        warned = true;
        status(true);
        restartTimer = setTimeout(start, reconnectMs);
      });
      status(true);
    };

    const endWaiting = () => {
      for (const item of waiting.splice(0)) {
        clearTimeout(item.timer);
        item.done(new Error(message(RED, 'avi-camera.errors.closed')));
      }
    };
    // A deploy that stops this node ends the triggers waiting before Node-RED stops any node, while Catch nodes run.
    const unwatch = watchDeploys(RED, {
      stopping: ({ type, diff }) => {
        if (stoppedBy(type, diff)(node.id, node.z)) endWaiting();
      },
    });

    node.on('input', (msg: Msg, send: Send, done: Done) => {
      if (mode === 'rate') {
        done();
        return;
      }
      if (closing) return done(new Error(message(RED, 'avi-camera.errors.closed')));
      if (waiting.length >= DEFAULT_MAX_QUEUE) {
        done(new Error(message(RED, 'avi-camera.errors.queueFull', { max: String(DEFAULT_MAX_QUEUE) })));
        return;
      }
      const item: Waiting = {
        msg,
        send,
        done,
        timer: setTimeout(() => {
          waiting.splice(waiting.indexOf(item), 1);
          done(new Error(message(RED, 'avi-camera.errors.noFrame', { ms: String(frameTimeoutMs), error: lastError || '-' })));
        }, frameTimeoutMs),
      };
      waiting.push(item);
    });

    node.on('close', (done: () => void) => {
      closing = true;
      unwatch();
      clearTimeout(restartTimer);
      endWaiting();
      const child = ffmpeg;
      if (!child || child.exitCode !== null) return done();
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('close', () => {
        clearTimeout(kill);
        done();
      });
      child.kill('SIGTERM');
    });

    start();
  }
  RED.nodes.registerType('avi-camera', AviCameraNode);
}
