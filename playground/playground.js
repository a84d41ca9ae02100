// The playground: the app's side of the API, in plain JavaScript. It creates tasks of every
// kind — text and image to video, effects, motion control and talking photos (uploading the
// photo, reference video or voice first), sound for, a lip-sync or an edit of one of your videos — follows one task live (label, queue position, progress), plays the stored MP4,
// lists history and cancels.
"use strict";

const $ = (id) => document.getElementById(id);
let token = null;
let current = null;
let timer = null;
let stream = null;

async function api(method, path, body, extraHeaders = {}) {
  const headers = { authorization: `Bearer ${token}`, ...extraHeaders };
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  const json = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const err = json && json.error ? json.error : { code: `http_${resp.status}`, message: text };
    throw Object.assign(new Error(`${err.code}: ${err.message}`), { code: err.code });
  }
  return json;
}

function showError(e) {
  $("error").textContent = e ? e.message : "";
  $("error").hidden = !e;
}

async function uploadFile(file) {
  const upload = await api("POST", "/v1/uploads", { content_type: file.type, bytes: file.size });
  const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: file });
  if (!put.ok) throw new Error(`upload failed: HTTP ${put.status}`);
  return upload.upload_id;
}

async function upload(input, what) {
  const file = $(input).files[0];
  if (!file) throw new Error(`choose ${what} first`);
  return { upload_id: await uploadFile(file) };
}

const photo = () => upload("image", "an image");

async function requestBody() {
  const type = $("type").value;
  const prompt = $("prompt").value.trim() || undefined;
  if (type === "effect") {
    return { type, scene: $("scene").value.trim(), image: await photo(), rights_confirmed: $("rights").checked };
  }
  if (type === "motion_control") {
    return { type, image: await photo(), source: await upload("reference", "a reference video"),
      orientation: $("orientation").value, prompt, quality: $("quality").value, rights_confirmed: $("rights").checked };
  }
  if (type === "avatar") {
    return { type, image: await photo(), voice: await upload("voice", "a voice recording"),
      prompt, quality: $("quality").value, rights_confirmed: $("rights").checked };
  }
  if (type === "lip_sync") {
    if (!$("source").value) throw new Error("choose one of your finished videos first");
    return { type, source: { video_id: $("source").value }, voice: await upload("voice", "a voice recording"),
      rights_confirmed: $("rights-voice").checked };
  }
  if (type === "omni_edit") {
    if (!$("source").value) throw new Error("choose one of your finished videos first");
    const image = $("image").files[0] ? await photo() : undefined;
    return { type, source: { video_id: $("source").value }, prompt, image, quality: $("quality").value,
      rights_confirmed: $("rights").checked };
  }
  if (type === "video_to_audio") {
    if (!$("source").value) throw new Error("choose one of your finished videos first");
    return { type, source: { video_id: $("source").value }, prompt, music_prompt: $("music_prompt").value.trim() || undefined };
  }
  const body = { type, prompt, duration: Number($("duration").value), quality: $("quality").value };
  if (type === "text_to_video") {
    body.aspect_ratio = $("aspect_ratio").value;
  } else {
    body.image = await photo();
    body.rights_confirmed = $("rights").checked;
  }
  return body;
}

// The fields each kind takes.
function showFields() {
  const type = $("type").value;
  const photoKind = ["image_to_video", "effect", "motion_control", "avatar", "omni_edit"].includes(type);
  $("image-fields").hidden = !photoKind;
  $("effect-fields").hidden = type !== "effect";
  $("source-fields").hidden = !["video_to_audio", "omni_edit", "lip_sync"].includes(type);
  $("music-field").hidden = type !== "video_to_audio";
  $("motion-fields").hidden = type !== "motion_control";
  $("voice-fields").hidden = type !== "avatar" && type !== "lip_sync";
  $("voice-rights").hidden = type !== "lip_sync";
  $("clip-fields").hidden = ["effect", "video_to_audio", "lip_sync"].includes(type);
  // The input's length decides these kinds' length.
  $("duration-field").hidden = ["motion_control", "avatar", "omni_edit"].includes(type);
  $("aspect-field").hidden = type !== "text_to_video";
}

async function create(event) {
  event.preventDefault();
  showError(null);
  $("create").disabled = true;
  try {
    const task = await api("POST", "/v1/videos", await requestBody(), {
      "idempotency-key": crypto.randomUUID(),
    });
    follow(task);
    await loadHistory();
  } catch (e) {
    showError(e);
  } finally {
    $("create").disabled = false;
  }
}

function render(task) {
  current = task;
  $("task-panel").hidden = false;
  $("task-id").textContent = task.id;
  $("status-label").textContent = task.label;
  $("status-label").dataset.status = task.status;
  $("progress").value = task.progress ?? 0;
  const queue = task.queue;
  $("queue").hidden = !queue;
  if (queue) $("queue").textContent = `Position ${queue.position} in the queue`;
  const done = ["SUCCEEDED", "FAILED", "CANCELED"].includes(task.status);
  $("cancel").hidden = done;
  const player = $("player");
  if (task.video && task.video.url && player.dataset.task !== task.id) {
    player.dataset.task = task.id;
    player.src = task.video.url;
    player.hidden = false;
  }
  if (task.video && player.dataset.task === task.id) {
    if (task.video.poster_url) player.poster = task.video.poster_url;
    else awaitPoster(task.id);
  }
  if (task.error) showError(new Error(`${task.error.code}: ${task.error.message}`));
  return done;
}

// The poster (a still of the video) is made a moment after the task succeeds: ask again a
// few times for its link.
let posterTimer;
function awaitPoster(id, tries = 20) {
  clearTimeout(posterTimer);
  posterTimer = setTimeout(async () => {
    if ($("player").dataset.task !== id) return;
    try {
      const latest = await api("GET", `/v1/videos/${id}`);
      if (latest.video && latest.video.poster_url) $("player").poster = latest.video.poster_url;
      else if (tries > 1) awaitPoster(id, tries - 1);
    } catch (e) {
      showError(e);
    }
  }, 500);
}

function follow(task) {
  clearTimeout(timer);
  if (stream) stream.close();
  stream = null;
  const player = $("player");
  clearTimeout(posterTimer);
  player.hidden = true;
  player.removeAttribute("src");
  player.removeAttribute("poster");
  delete player.dataset.task;
  $("video-duration").hidden = true;
  delete $("task-panel").dataset.live;
  const poll = async () => {
    try {
      const latest = await api("GET", `/v1/videos/${task.id}`);
      if (render(latest)) loadHistory();
      else if (latest.events_url && !stream) listen(latest);
      else timer = setTimeout(poll, 1000);
    } catch (e) {
      showError(e);
      timer = setTimeout(poll, 2000);
    }
  };
  render(task);
  timer = setTimeout(poll, 500);
}

// The task's status stream (Server-Sent Events): every status as it happens and progress
// while it runs; the browser resumes a dropped connection with Last-Event-ID by itself. At
// the end, one GET for the video's link. Polling again if the stream cannot be had.
function listen(task) {
  stream = new EventSource(task.events_url);
  const update = (event) => {
    const data = JSON.parse(event.data);
    $("task-panel").dataset.live = "stream";
    $("status-label").textContent = data.label;
    $("status-label").dataset.status = data.status;
    $("progress").value = data.progress;
    if (["SUCCEEDED", "FAILED", "CANCELED"].includes(data.status)) {
      stream.close();
      stream = null;
      api("GET", `/v1/videos/${task.id}`).then((t) => { render(t); loadHistory(); }).catch(showError);
    }
  };
  stream.addEventListener("status", update);
  stream.addEventListener("progress", update);
  stream.onerror = () => {
    if (stream && stream.readyState === EventSource.CLOSED) {
      stream = null;
      follow(task);
    }
  };
}

async function cancel() {
  if (!current) return;
  try {
    render(await api("POST", `/v1/videos/${current.id}/cancel`));
    await loadHistory();
  } catch (e) {
    showError(e);
  }
}

async function loadHistory() {
  const page = await api("GET", "/v1/videos?limit=20");
  const chosen = $("source").value;
  $("source").replaceChildren(...page.items.filter((t) => t.status === "SUCCEEDED").map((t) => {
    const option = document.createElement("option");
    option.value = t.id;
    option.textContent = `${(t.prompt || t.type).slice(0, 40)} (${t.duration} s)`;
    return option;
  }));
  if (chosen) $("source").value = chosen;
  const list = $("history");
  list.replaceChildren(...page.items.map((t) => {
    const li = document.createElement("li");
    li.dataset.id = t.id;
    li.textContent = `${(t.prompt || t.type).slice(0, 60)} `;
    const label = document.createElement("span");
    label.textContent = `— ${t.label}`;
    li.append(label);
    li.addEventListener("click", () => follow(t));
    return li;
  }));
}

async function start() {
  const config = await (await fetch("config.json")).json();
  token = config.token;
  $("who").textContent = "Local stack, signed in with a local token (user “playground”, plan pro).";
  $("type").addEventListener("change", showFields);
  $("create-form").addEventListener("submit", create);
  $("cancel").addEventListener("click", cancel);
  $("player").addEventListener("loadedmetadata", () => {
    const secs = $("player").duration;
    $("video-duration").textContent = `${secs.toFixed(1)} s`;
    $("video-duration").dataset.seconds = String(secs);
    $("video-duration").hidden = false;
  });
  await loadHistory();
}

start().catch(showError);
