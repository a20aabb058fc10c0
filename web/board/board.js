// The board page: sign in with a token, pick a pipeline, see its stages and cards, drag a card
// to move it, and watch everyone else's moves arrive live.
//
// The state is deliberately small: the pipeline's stages in order, and a map of its jobs. Every
// source of news (the board query, moveJob's answer, a live event) hands over a whole job, and
// applyJob() keeps whichever is newest by `version`. So news may arrive in any order, or twice,
// and the board still shows the latest of everything it heard.

import { ApiError, LiveFeed, graphql } from "./api.js";

const TOKEN_KEY = "board.token";
const PIPELINE_KEY = "board.pipeline";

// What a card shows, and what the board needs to place it: the same selection everywhere.
const CARD = `
  fragment Card on Job {
    id title version rank status dueDate stageDueAt
    stage { id }
    client { name }
    assignees { name }
  }`;

// Queries are costed before they run: connections ask for what they show (`first` ≤ 100).
const SIGN_IN = `
  query SignIn {
    viewer { name email }
    pipelines(first: 100) { edges { node { id name } } }
  }`;

const CARDS_PER_STAGE = 100;
const BOARD = `
  query Board($id: ID!) {
    pipeline(id: $id) {
      id name eventCursor
      stages {
        id name
        jobs(first: ${CARDS_PER_STAGE}) { totalCount edges { node { ...Card } } }
      }
    }
  }
  ${CARD}`;

const MOVE = `
  mutation MoveJob($input: MoveJobInput!) {
    moveJob(input: $input) {
      job { ...Card }
      errors { code field message }
    }
  }
  ${CARD}`;

const LIVE = `
  subscription BoardUpdated($pipelineId: ID!, $after: String) {
    boardUpdated(pipelineId: $pipelineId, after: $after) {
      cursor type
      job { ...Card }
    }
  }
  ${CARD}`;

const state = {
  token: null,
  pipelineId: null,
  stages: [], // [{id, name, hidden}] in board order; hidden: cards past CARDS_PER_STAGE
  jobs: new Map(), // job id → the Card fragment (+ pending: true while our move is unanswered)
  feed: null, // the LiveFeed of the pipeline shown
  loads: 0, // board loads started: only the latest one's answer is shown
  received: [], // live events since the latest load started, applied again on top of it
  dragging: null, // the id of the card being dragged: renders wait until it is dropped
  renderLater: false,
};

const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children; strings become text, never HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

// ---------------------------------------------------------------- signing in and out

async function signIn(token) {
  clearError();
  let data;
  try {
    data = await graphql(token, SIGN_IN);
  } catch (error) {
    localStorage.removeItem(TOKEN_KEY);
    showSignIn(
      error.code === "UNAUTHENTICATED"
        ? `This token was refused: ${error.message}`
        : `Could not sign in: ${error.message}`,
    );
    return;
  }
  state.token = token;
  localStorage.setItem(TOKEN_KEY, token);
  $("#sign-in").hidden = true;
  $("#sign-out").hidden = false;
  $("#viewer").textContent = `${data.viewer.name} (${data.viewer.email})`;

  const pipelines = data.pipelines.edges.map((edge) => edge.node);
  const picker = $("#pipeline");
  picker.replaceChildren(...pipelines.map((p) => h("option", { value: p.id }, p.name)));
  picker.hidden = false;
  if (pipelines.length === 0) {
    showError("This firm has no pipeline yet: create one with the createPipeline mutation.");
    return;
  }
  const remembered = localStorage.getItem(PIPELINE_KEY);
  const first = pipelines.find((p) => p.id === remembered) ?? pipelines[0];
  picker.value = first.id;
  selectPipeline(first.id);
}

function signOut(message) {
  state.feed?.stop();
  state.loads++; // an answer still on its way is no longer shown
  Object.assign(state, { token: null, pipelineId: null, stages: [], feed: null });
  state.jobs = new Map();
  localStorage.removeItem(TOKEN_KEY);
  $("#board").setAttribute("aria-busy", "false");
  $("#pipeline").hidden = true;
  $("#sign-out").hidden = true;
  $("#viewer").textContent = "";
  render();
  $("#board").hidden = true;
  showConnection("idle");
  showSignIn(message);
}

function showSignIn(message) {
  $("#sign-in").hidden = false;
  $("#token").value = "";
  $("#token").focus();
  if (message) showError(message);
}

// ---------------------------------------------------------------- the pipeline and its feed

function selectPipeline(id) {
  clearError();
  state.feed?.stop();
  state.loads++; // the previous pipeline's answer, if one is on its way, is not shown
  state.pipelineId = id;
  localStorage.setItem(PIPELINE_KEY, id);
  state.stages = [];
  state.jobs = new Map();
  render();
  $("#board").hidden = false;

  const feed = new LiveFeed({
    token: state.token,
    query: LIVE,
    variables: { pipelineId: id },
    field: "boardUpdated",
    onEvent: receive,
    // Too much was missed: load the board afresh and go on from its cursor.
    onExpired: async () => feed.resumeFrom(await loadBoard()),
    onState: showConnection,
    onFatal: (error) => signOut(`Signed out: ${error.message} (${error.code})`),
  });
  state.feed = feed;
  // Subscribe from the cursor read with the board: the server replays every change made since
  // that read, so none is missed (one already in the answer may come again: applyJob keeps the
  // newer version). Without a board (its load failed) the feed starts from now.
  loadBoard().then((cursor) => state.feed === feed && feed.start(cursor));
}

/** Loads the board shown; answers its eventCursor (null if the load failed or was superseded). */
async function loadBoard() {
  const load = ++state.loads;
  state.received = [];
  // aria-busy until the latest load is shown: screen readers wait, and so can scripts and tests.
  $("#board").setAttribute("aria-busy", "true");
  let data;
  try {
    data = await graphql(state.token, BOARD, { id: state.pipelineId });
  } catch (error) {
    if (load === state.loads) {
      $("#board").setAttribute("aria-busy", "false");
      failed("The board could not be loaded", error);
    }
    return null;
  }
  if (load !== state.loads) return null; // a newer load is under way
  if (!data.pipeline) {
    $("#board").setAttribute("aria-busy", "false");
    showError("This pipeline no longer exists: pick another one.");
    return null;
  }
  state.stages = data.pipeline.stages.map((stage) => ({
    id: stage.id,
    name: stage.name,
    hidden: stage.jobs.totalCount - stage.jobs.edges.length,
  }));
  state.jobs = new Map();
  for (const stage of data.pipeline.stages) {
    for (const { node } of stage.jobs.edges) state.jobs.set(node.id, node);
  }
  // Events that came while the query ran may be newer than its answer.
  const received = state.received;
  state.received = [];
  if (received.some((event) => event.type === "STAGE_CHANGED")) loadBoard();
  for (const event of received) applyEvent(event);
  render();
  if (load === state.loads) $("#board").setAttribute("aria-busy", "false"); // none started since
  return data.pipeline.eventCursor;
}

/** A live event, in order, once (the feed resumes from its cursor after a disconnect). */
function receive(event) {
  state.received.push(event);
  applyEvent(event);
  render();
}

function applyEvent(event) {
  if (event.type === "STAGE_CHANGED") {
    loadBoard(); // stages added, renamed, reordered or removed: fetch them again
  } else if (event.job) {
    applyJob(event.job);
  }
}

/** Keeps the newest news of a job: shown in its stage, or dropped when it left the board. */
function applyJob(job) {
  const known = state.jobs.get(job.id);
  if (known && known.version > job.version) return; // older than what we show
  const onBoard = job.status !== "ARCHIVED" && state.stages.some((s) => s.id === job.stage.id);
  if (onBoard) state.jobs.set(job.id, job);
  else state.jobs.delete(job.id); // archived, or transferred to another pipeline
}

// ---------------------------------------------------------------- moving a card

async function moveCard(jobId, stageId, afterId, beforeId) {
  const job = state.jobs.get(jobId);
  const after = afterId && state.jobs.get(afterId);
  // Show the move at once. Until the server answers, the card sorts right after `after`
  // (ranks never end in "0", so rank + "0" lies between it and the next card) or first ("").
  state.jobs.set(jobId, { ...job, stage: { id: stageId }, rank: after ? `${after.rank}0` : "", pending: true });
  render();

  const input = { jobId, stageId, expectedVersion: job.version };
  if (afterId) input.afterJobId = afterId;
  else if (beforeId) input.beforeJobId = beforeId;
  try {
    const { moveJob } = await graphql(state.token, MOVE, { input });
    const [error] = moveJob.errors; // expected failures: VERSION_CONFLICT, WIP_LIMIT_REACHED…
    if (error) throw new ApiError(error.message, error.code);
    applyJob(moveJob.job);
    render();
  } catch (error) {
    // Someone else changed the job first (VERSION_CONFLICT), or the move was refused: say so,
    // and show the board as it is now.
    failed(`“${job.title}” was not moved`, error);
    if (state.token) loadBoard();
  }
}

function failed(what, error) {
  if (error.code === "UNAUTHENTICATED") {
    signOut(`Signed out: ${error.message}`);
  } else {
    showError(`${what}: ${error.message} (${error.code})`);
  }
}

// HTML5 drag and drop, handled once for the whole board (cards are re-rendered often).
// While a card is dragged, a marker shows where it would land; dropping sends moveJob with the
// card that ends up before it (afterJobId), or the one after it when it goes first.

const marker = h("li", { class: "drop-marker", "aria-hidden": "true" });

function setUpDragAndDrop(board) {
  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest(".card");
    if (!card) return;
    clearError();
    state.dragging = card.dataset.jobId;
    event.dataTransfer.setData("text/plain", card.dataset.jobId);
    event.dataTransfer.effectAllowed = "move";
    card.classList.add("dragging");
  });

  board.addEventListener("dragover", (event) => {
    const stage = event.target.closest(".stage");
    if (!stage || !state.dragging) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    const list = stage.querySelector(".cards");
    const below = [...list.querySelectorAll(".card:not(.dragging)")].find((card) => {
      const box = card.getBoundingClientRect();
      return event.clientY < box.top + box.height / 2;
    });
    list.insertBefore(marker, below ?? null);
    for (const other of board.querySelectorAll(".drop-target")) other.classList.remove("drop-target");
    stage.classList.add("drop-target");
  });

  board.addEventListener("drop", (event) => {
    const jobId = state.dragging;
    if (!jobId || !marker.parentElement) return;
    event.preventDefault();
    if (!state.jobs.has(jobId)) {
      endDrag(board); // archived or transferred by someone else while it was dragged
      return;
    }
    const stageId = marker.closest(".stage").dataset.stageId;
    const after = nearestCard(marker, "previousElementSibling");
    const before = nearestCard(marker, "nextElementSibling");
    const dragged = board.querySelector(`.card[data-job-id="${CSS.escape(jobId)}"]`);
    const unmoved =
      state.jobs.get(jobId).stage.id === stageId &&
      nearestCard(dragged, "previousElementSibling") === after;
    endDrag(board);
    if (!unmoved) moveCard(jobId, stageId, after?.dataset.jobId, before?.dataset.jobId);
  });

  board.addEventListener("dragend", () => endDrag(board));
}

/** The closest card that is not the dragged one, walking `direction` from `element`. */
function nearestCard(element, direction) {
  let node = element[direction];
  while (node && !(node.classList.contains("card") && !node.classList.contains("dragging"))) {
    node = node[direction];
  }
  return node;
}

function endDrag(board) {
  marker.remove();
  for (const stage of board.querySelectorAll(".drop-target")) stage.classList.remove("drop-target");
  state.dragging = null;
  if (state.renderLater) render();
}

// ---------------------------------------------------------------- rendering

const byRank = (a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : a.id < b.id ? -1 : 1);

function render() {
  if (state.dragging) {
    state.renderLater = true; // replacing the dragged card would cancel the drag
    return;
  }
  state.renderLater = false;
  const jobs = [...state.jobs.values()].sort(byRank);
  $("#board").replaceChildren(
    ...state.stages.map((stage) =>
      renderStage(
        stage,
        jobs.filter((job) => job.stage.id === stage.id),
      ),
    ),
  );
}

function renderStage(stage, jobs) {
  const count = stage.hidden > 0 ? `${jobs.length} (+${stage.hidden} not shown)` : `${jobs.length}`;
  return h(
    "section",
    { class: "stage", "data-stage-id": stage.id, "aria-label": stage.name },
    h("h2", {}, h("span", { class: "name" }, stage.name), h("span", { class: "count" }, count)),
    h("ol", { class: "cards" }, ...jobs.map(renderCard)),
  );
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Job.isOverdue's rule (docs/api.md, Deadlines), here rather than asked for: a query that
 * reads isOverdue is never served from the server's query cache, and the board load is. A
 * render follows every event, JOB_OVERDUE included, so the mark appears when it is announced. */
function isOverdue(job, now = Date.now()) {
  if (job.status !== "ACTIVE") return false;
  if (job.stageDueAt && Date.parse(job.stageDueAt) <= now) return true;
  return Boolean(job.dueDate) && Date.parse(`${job.dueDate}T00:00:00Z`) + DAY_MS <= now;
}

function renderCard(job) {
  const assignees = job.assignees.map((person) => person.name).join(", ") || "unassigned";
  const overdue = isOverdue(job);
  return h(
    "li",
    {
      class: ["card", job.pending && "pending", overdue && "overdue"].filter(Boolean).join(" "),
      draggable: "true",
      "data-job-id": job.id,
      "data-version": String(job.version),
    },
    h("strong", { class: "title" }, job.title),
    h("span", { class: "client" }, job.client.name),
    h("span", { class: "assignees" }, assignees),
    ...(overdue ? [h("span", { class: "overdue-mark" }, "overdue")] : []),
  );
}

const CONNECTION_TEXT = {
  idle: "",
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting",
  offline: "offline",
  stopped: "not connected",
};

function showConnection(connection, detail) {
  const badge = $("#connection");
  badge.dataset.state = connection;
  badge.textContent = detail ? `${CONNECTION_TEXT[connection]} (${detail})` : CONNECTION_TEXT[connection];
}

function showError(message) {
  $("#error").textContent = message;
  $("#error").hidden = false;
}

function clearError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
}

// ---------------------------------------------------------------- start

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("#token").value.trim());
});
$("#sign-out").addEventListener("click", () => signOut());
$("#pipeline").addEventListener("change", (event) => selectPipeline(event.target.value));
setUpDragAndDrop($("#board"));

const remembered = localStorage.getItem(TOKEN_KEY);
if (remembered) signIn(remembered);
else showSignIn();
