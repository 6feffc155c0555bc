// The edit page (serving/web_lib.py serves it): pick or drop a picture, type a sentence, POST /edit.
// document.body.dataset.state is "loading", "ready", "working", "done" or "error", for people's
// eyes (style.css) and for tests that drive the page.
"use strict";

const $ = (id) => document.getElementById(id);
let picture = null;          // the File to edit
let maxUploadBytes = Infinity;

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message || "";
}

function choose(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    setState("error", `${file.name} is not a picture (${file.type || "unknown type"}); pick a PNG or JPEG file`);
    return;
  }
  picture = file;
  $("drop-text").textContent = file.name;
  $("input").src = URL.createObjectURL(file);
  $("edited").removeAttribute("src");
  $("map").removeAttribute("src");
  $("unknown").textContent = "";
  setState("ready", "");
}

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));  // drop "data:...;base64,"
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

async function edit(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!picture) return setState("error", "Pick a picture first.");
  if (!text) return setState("error", "Type a sentence describing the picture you want.");
  // base64 makes 4 bytes of 3: say so here rather than upload for nothing.
  if (Math.ceil(picture.size / 3) * 4 + text.length + 64 > maxUploadBytes) {
    return setState("error", `${picture.name} is ${picture.size.toLocaleString()} bytes: over the server's limit; pick a smaller picture`);
  }
  setState("working", "Editing...");
  $("edit").disabled = true;
  try {
    const response = await fetch("/edit", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({image: await base64Of(picture), text: text}),
    });
    const answer = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    $("edited").src = answer.edited;
    $("map").src = answer.map;
    $("unknown").textContent = answer.caption_note;
    $("unknown").dataset.words = answer.unknown_words.join(" ");
    $("unknown").dataset.corrected = answer.corrected_words.map(([typed, word]) => `${typed}>${word}`).join(" ");
    setState("done", `Edited (${answer.width} x ${answer.height}).`);
  } catch (error) {
    setState("error", error.message);
  } finally {
    $("edit").disabled = false;
  }
}

async function describeModel() {
  try {
    const response = await fetch("/model");
    const model = await response.json();
    maxUploadBytes = model.max_upload_bytes;
    $("model").textContent = `Model: ${model.name}, ${model.image_size} x ${model.image_size} px, ` +
      `${model.words.length} words (it reads the first ${model.max_words} of a sentence).`;
    $("words").textContent = model.words.join(", ");
  } catch (error) {
    $("model").textContent = `The model's description did not load (${error.message}).`;
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("file").addEventListener("change", () => choose($("file").files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files[0]);
  });
  $("form").addEventListener("submit", edit);
  describeModel().then(() => { if (document.body.dataset.state === "loading") setState("ready", ""); });
});
