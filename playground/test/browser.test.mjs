// The playground in a real browser (Debian's Chromium, driven by playwright-core): create a
// text-to-video task through the page, follow it live, and check that the <video> element
// loads the stored file and reports its duration; then an image-to-video task, sound for the
// first video, a talking photo, a lip-sync of the first video and an edit. Saves a screenshot.
//
//   PLAYGROUND_URL=http://127.0.0.1:PORT/playground/ node playground/test/browser.test.mjs
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { chromium } from "playwright-core";

/** A mono 8-bit 8 kHz WAV of silence, `seconds` long. */
function wav(seconds) {
  const frames = seconds * 8000;
  const head = Buffer.alloc(44);
  head.write("RIFF", 0);
  head.writeUInt32LE(36 + frames, 4);
  head.write("WAVEfmt ", 8);
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20);
  head.writeUInt16LE(1, 22);
  head.writeUInt32LE(8000, 24);
  head.writeUInt32LE(8000, 28);
  head.writeUInt16LE(1, 32);
  head.writeUInt16LE(8, 34);
  head.write("data", 36);
  head.writeUInt32LE(frames, 40);
  return Buffer.concat([head, Buffer.alloc(frames, 128)]);
}

const url = process.env.PLAYGROUND_URL;
const screenshot = process.env.SCREENSHOT ?? "target/playground.png";
assert.ok(url, "PLAYGROUND_URL is set (run through `devstack exec`)");

// As root, in a sandbox without a GPU or a network beyond loopback.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("who").textContent.includes("signed in"));

  await page.fill("#prompt", "a paper boat drifting down a rainy street, slow dolly shot");
  await page.selectOption("#duration", "5");
  await page.click("#create");
  await page.waitForFunction(() => document.getElementById("task-id").textContent !== "");
  const id = await page.textContent("#task-id");
  const seen = new Set();
  // Follow the live label until the video is ready.
  while (true) {
    const status = await page.getAttribute("#status-label", "data-status");
    seen.add(await page.textContent("#status-label"));
    if (["SUCCEEDED", "FAILED", "CANCELED"].includes(status)) {
      assert.equal(status, "SUCCEEDED", `task ${id} ended ${status}: ${await page.textContent("#error")}`);
      break;
    }
    await page.waitForTimeout(200);
  }
  // The statuses came from the task's status stream, not from polling.
  assert.equal(await page.getAttribute("#task-panel", "data-live"), "stream");
  // The <video> loads the stored file and reports its duration.
  await page.waitForSelector("#video-duration:not([hidden])", { timeout: 60_000 });
  const video = await page.$eval("#player", (v) => ({
    src: v.currentSrc, duration: v.duration, width: v.videoWidth, height: v.videoHeight,
    error: v.error && v.error.message,
  }));
  assert.equal(video.error, null);
  assert.match(video.src, new RegExp(`/videos/playground/${id}\\.mp4\\?`));
  assert.ok(Math.abs(video.duration - 5) < 0.25, `duration ${video.duration}`);
  assert.deepEqual([video.width, video.height], [1280, 720]);
  // The player shows the video's poster: a JPEG of the video's size.
  await page.waitForSelector("#player[poster]", { timeout: 30_000 });
  const poster = await page.$eval("#player", (v) => new Promise((done) => {
    const img = new Image();
    img.onload = () => done({ src: v.poster, width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => done({ src: v.poster, width: 0, height: 0 });
    img.src = v.poster;
  }));
  assert.match(poster.src, new RegExp(`/videos/playground/${id}\\.jpg\\?`));
  assert.deepEqual([poster.width, poster.height], [1280, 720]);
  await page.waitForSelector(`#history li[data-id="${id}"]`);

  // Image to video: the page uploads the image (a presigned PUT), then creates the task.
  await page.selectOption("#type", "image_to_video");
  await page.setInputFiles("#image", process.env.IMAGE ?? "tools/e2e/tests/fixtures/photo-640x480.png");
  await page.check("#rights");
  await page.fill("#prompt", "the lighthouse beam sweeps across the waves");
  await page.click("#create");
  await page.waitForFunction((first) => {
    const shown = document.getElementById("task-id").textContent;
    return shown !== "" && shown !== first;
  }, id);
  const imageTask = await page.textContent("#task-id");
  await page.waitForFunction(() => document.getElementById("status-label").dataset.status === "SUCCEEDED", null, { timeout: 120_000 });
  await page.waitForSelector(`#history li[data-id="${imageTask}"]`);

  // Sound for a video: the first video, chosen from the caller's finished ones.
  await page.selectOption("#type", "video_to_audio");
  await page.selectOption("#source", id);
  await page.fill("#prompt", "rain on the street, a distant tram");
  await page.fill("#music_prompt", "soft jazz");
  await page.click("#create");
  await page.waitForFunction((seen) => {
    const shown = document.getElementById("task-id").textContent;
    return shown !== "" && !seen.includes(shown);
  }, [id, imageTask]);
  const soundTask = await page.textContent("#task-id");
  await page.waitForFunction(() => document.getElementById("status-label").dataset.status === "SUCCEEDED", null, { timeout: 120_000 });
  await page.waitForSelector("#video-duration:not([hidden])", { timeout: 60_000 });
  const sound = Number(await page.getAttribute("#video-duration", "data-seconds"));
  assert.ok(Math.abs(sound - 5) < 0.25, `as long as its source: ${sound}`);

  // A talking photo: the page uploads the photo and a 4-second WAV, the video lasts as long.
  const voice = join(dirname(screenshot), "voice.wav");
  mkdirSync(dirname(voice), { recursive: true });
  writeFileSync(voice, wav(4));
  await page.selectOption("#type", "avatar");
  for (const field of ["#duration-field", "#aspect-field", "#source-fields"]) {
    assert.equal(await page.isVisible(field), false, `${field} is not asked of a talking photo`);
  }
  await page.setInputFiles("#image", process.env.IMAGE ?? "tools/e2e/tests/fixtures/photo-640x480.png");
  await page.setInputFiles("#voice", voice);
  await page.check("#rights");
  await page.fill("#prompt", "smiling, nodding");
  await page.click("#create");
  await page.waitForFunction((seen) => {
    const shown = document.getElementById("task-id").textContent;
    return shown !== "" && !seen.includes(shown);
  }, [id, imageTask, soundTask]);
  const avatarTask = await page.textContent("#task-id");
  await page.waitForFunction(() => document.getElementById("status-label").dataset.status === "SUCCEEDED", null, { timeout: 120_000 });
  await page.waitForSelector("#video-duration:not([hidden])", { timeout: 60_000 });
  const spoken = Number(await page.getAttribute("#video-duration", "data-seconds"));
  assert.ok(Math.abs(spoken - 4) < 0.25, `as long as its voice: ${spoken}`);

  // A lip-sync of the first video with the same voice: as long as the video, not the voice.
  await page.selectOption("#type", "lip_sync");
  for (const [field, shown] of [["#source-fields", true], ["#voice-fields", true], ["#image-fields", false], ["#clip-fields", false]]) {
    assert.equal(await page.isVisible(field), shown, `${field} for a lip-sync`);
  }
  await page.selectOption("#source", id);
  await page.setInputFiles("#voice", voice);
  await page.check("#rights-voice");
  await page.click("#create");
  await page.waitForFunction((seen) => {
    const shown = document.getElementById("task-id").textContent;
    return shown !== "" && !seen.includes(shown);
  }, [id, imageTask, soundTask, avatarTask]);
  const lipTask = await page.textContent("#task-id");
  await page.waitForFunction(() => document.getElementById("status-label").dataset.status === "SUCCEEDED", null, { timeout: 120_000 });
  await page.waitForSelector("#video-duration:not([hidden])", { timeout: 60_000 });
  const synced = Number(await page.getAttribute("#video-duration", "data-seconds"));
  assert.ok(Math.abs(synced - 5) < 0.25, `as long as its video: ${synced}`);

  // An edit of the first video: the form asks for what an edit takes, and the request passes
  // validation (this stack runs Kling's /v1, which makes no edits: kind_not_available).
  await page.selectOption("#type", "omni_edit");
  for (const [field, shown] of [["#source-fields", true], ["#music-field", false], ["#duration-field", false], ["#image-fields", true]]) {
    assert.equal(await page.isVisible(field), shown, `${field} for an edit`);
  }
  await page.selectOption("#source", id);
  await page.setInputFiles("#image", []);
  await page.check("#rights");
  await page.fill("#prompt", "make it snow on @video_1");
  const edit = page.waitForResponse((r) => r.url().endsWith("/v1/videos") && r.request().method() === "POST");
  await page.click("#create");
  assert.equal((await edit).status(), 422);
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /^kind_not_available: /);
  assert.deepEqual(problems, []);

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`browser: ${id} ${[...seen].join(" → ")}; <video> ${video.width}x${video.height}, ${video.duration.toFixed(2)} s; image-to-video ${imageTask} ready; sound for it ${soundTask}, ${sound.toFixed(2)} s; talking photo ${avatarTask}, ${spoken.toFixed(2)} s; lip-sync ${lipTask}, ${synced.toFixed(2)} s; an edit answered kind_not_available on /v1; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
