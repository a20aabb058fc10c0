// The client portal page: a contact signs in with a link emailed to them, sees their jobs with
// what the firm sent (organizers, invoices, messages), answers organizers (a draft, then the
// submission) and replies to messages.
//
// Signing in: the form asks /portal/graphql for a link (requestPortalLink); the email's link
// opens this page with ?token=…, which the page exchanges once (signIn) for a session token,
// kept in this browser (localStorage) until the contact signs out or the session ends. The
// link token leaves the address bar at once. A document link (?organizer=…, ?invoice=…,
// ?message=…) is remembered across the sign-in and scrolled to once the page is shown.

import { ApiError, graphql } from "/board/api.js";

const ENDPOINT = "/portal/graphql";
const TOKEN_KEY = "portal.token";
const FOCUS_KEY = "portal.focus";
const ERRORS = "errors { code field message }";

// Nested connections ask for what the page shows: a query's cost is limited.
const PORTAL = `
  query Portal {
    me { name email client { name } }
    jobs(first: 20) { edges { node {
      id title status stageName dueDate
      organizers(first: 10) { edges { node { id title questions answers status submittedAt } } }
      invoices(first: 10) { edges { node {
        id currency totalCents status createdAt paidAt
        lineItems { description quantity unitPriceCents amountCents }
      } } }
      messages(first: 20) { edges { node { id subject body direction createdAt } } }
    } } }
  }`;
const REQUEST_LINK = `
  mutation RequestLink($email: String!) {
    requestPortalLink(input: {email: $email}) { message ${ERRORS} }
  }`;
const SIGN_IN = `
  mutation SignIn($linkToken: String!) {
    signIn(input: {linkToken: $linkToken}) { token ${ERRORS} }
  }`;
const SAVE = `
  mutation SaveAnswers($input: SaveOrganizerAnswersInput!) {
    saveOrganizerAnswers(input: $input) { organizer { id } ${ERRORS} }
  }`;
const SUBMIT = `
  mutation SubmitOrganizer($input: SubmitOrganizerInput!) {
    submitOrganizer(input: $input) { organizer { id } ${ERRORS} }
  }`;
const REPLY = `
  mutation Reply($input: ReplyToMessageInput!) {
    replyToMessage(input: $input) { message { id } ${ERRORS} }
  }`;

const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children; strings become text, never HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

const nodes = (connection) => connection.edges.map((edge) => edge.node);

function say(selector, text) {
  const element = $(selector);
  element.textContent = text ?? "";
  element.hidden = !text;
}
const showError = (text) => say("#error", text);
const showNotice = (text) => say("#notice", text);

/** A mutation's answer: its payload, or throws the first UserError as an ApiError. */
async function mutate(token, query, variables, field) {
  const payload = (await graphql(token, query, variables, ENDPOINT))[field];
  if (payload.errors.length) {
    const [first] = payload.errors;
    throw new ApiError(first.message, first.code);
  }
  return payload;
}

function money(cents, currency) {
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
}

function showSignIn(notice) {
  localStorage.removeItem(TOKEN_KEY);
  $("#jobs").hidden = true;
  $("#sign-out").hidden = true;
  $("#viewer").textContent = "";
  $("#sign-in").hidden = false;
  if (notice) showNotice(notice);
}

async function requestLink(event) {
  event.preventDefault();
  showError(null);
  try {
    const email = $("#email").value;
    const payload = await mutate(null, REQUEST_LINK, { email }, "requestPortalLink");
    showNotice(payload.message);
  } catch (error) {
    showError(error.message);
  }
}

async function load() {
  const token = localStorage.getItem(TOKEN_KEY);
  let data;
  try {
    data = await graphql(token, PORTAL, {}, ENDPOINT);
  } catch (error) {
    if (error.code === "UNAUTHENTICATED") {
      showSignIn("Your session has ended: ask for a new sign-in link.");
    } else {
      showError(error.message);
    }
    return;
  }
  $("#sign-in").hidden = true;
  $("#sign-out").hidden = false;
  $("#viewer").textContent = `${data.me.name} · ${data.me.client.name}`;
  const jobs = nodes(data.jobs);
  $("#jobs").replaceChildren(
    ...(jobs.length ? jobs.map(renderJob) : [h("p", {}, "Nothing here yet.")]),
  );
  $("#jobs").hidden = false;
  focusRemembered();
}

function renderJob(job) {
  const section = h(
    "section",
    { class: "job", id: `item-${job.id}` },
    h("h2", {}, job.title),
    h("p", { class: "meta" }, job.stageName, job.dueDate ? ` · due ${job.dueDate}` : ""),
  );
  const organizers = nodes(job.organizers);
  const invoices = nodes(job.invoices);
  const messages = nodes(job.messages);
  if (organizers.length) section.append(h("h3", {}, "Organizers"), ...organizers.map(renderOrganizer));
  if (invoices.length) section.append(h("h3", {}, "Invoices"), ...invoices.map(renderInvoice));
  if (messages.length) section.append(h("h3", {}, "Messages"), ...messages.map(renderMessage));
  return section;
}

function renderOrganizer(organizer) {
  const item = h(
    "article",
    { class: "item organizer", id: `item-${organizer.id}` },
    h("strong", {}, organizer.title),
    h("span", { class: "status" }, organizer.status === "SUBMITTED" ? "submitted" : "to answer"),
  );
  if (organizer.status === "SUBMITTED") {
    organizer.questions.forEach((question, n) => {
      item.append(h("p", { class: "question" }, question), h("p", { class: "answer" }, organizer.answers[n] ?? ""));
    });
    return item;
  }
  const form = h("form", { class: "answers" });
  const fields = organizer.questions.map((question, n) => {
    const id = `${organizer.id}-q${n}`;
    const area = h("textarea", { id, name: `q${n}` });
    area.value = organizer.answers[n] ?? "";
    form.append(h("div", { class: "question" }, h("label", { for: id }, question), area));
    return area;
  });
  const save = h("button", { type: "button", class: "save" }, "Save draft");
  const submit = h("button", { type: "submit" }, "Submit");
  form.append(h("div", { class: "actions" }, save, submit));
  const send = async (query, field, notice) => {
    showError(null);
    const input = { organizerId: organizer.id, answers: fields.map((area) => area.value) };
    try {
      await mutate(localStorage.getItem(TOKEN_KEY), query, { input }, field);
      showNotice(notice);
      await load();
    } catch (error) {
      showError(error.message);
    }
  };
  save.addEventListener("click", () => send(SAVE, "saveOrganizerAnswers", "Your answers are saved."));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(SUBMIT, "submitOrganizer", "Thank you: your answers are submitted.");
  });
  item.append(form);
  return item;
}

function renderInvoice(invoice) {
  const rows = invoice.lineItems.map((line) =>
    h(
      "tr",
      {},
      h("td", {}, line.description),
      h("td", { class: "amount" }, String(line.quantity)),
      h("td", { class: "amount" }, money(line.unitPriceCents, invoice.currency)),
      h("td", { class: "amount" }, money(line.amountCents, invoice.currency)),
    ),
  );
  return h(
    "article",
    { class: "item invoice", id: `item-${invoice.id}` },
    h("strong", {}, `Invoice · ${money(invoice.totalCents, invoice.currency)}`),
    h("span", { class: "status" }, invoice.status === "PAID" ? "paid" : "unpaid"),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, "Item"), h("th", { class: "amount" }, "Qty"), h("th", { class: "amount" }, "Price"), h("th", { class: "amount" }, "Amount")),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}

function renderMessage(message) {
  const inbound = message.direction === "INBOUND";
  const item = h(
    "article",
    { class: `item message${inbound ? " inbound" : ""}`, id: `item-${message.id}` },
    h("strong", {}, message.subject),
    h("span", { class: "status" }, inbound ? "your reply" : "from your firm"),
    h("p", { class: "body" }, message.body),
  );
  if (!inbound) {
    const id = `${message.id}-reply`;
    const area = h("textarea", { id, name: "reply" });
    const form = h(
      "form",
      { class: "reply" },
      h("label", { for: id }, "Reply"),
      area,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Send reply")),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError(null);
      try {
        const input = { messageId: message.id, body: area.value };
        await mutate(localStorage.getItem(TOKEN_KEY), REPLY, { input }, "replyToMessage");
        showNotice("Your reply is sent.");
        await load();
      } catch (error) {
        showError(error.message);
      }
    });
    item.append(form);
  }
  return item;
}

/** Scroll to the document an email's link named, once, after the page is shown. */
function focusRemembered() {
  const id = localStorage.getItem(FOCUS_KEY);
  if (!id) return;
  localStorage.removeItem(FOCUS_KEY);
  const element = document.getElementById(`item-${id}`);
  if (element) {
    element.classList.add("focus");
    element.scrollIntoView({ block: "center" });
  }
}

async function start() {
  const params = new URLSearchParams(location.search);
  const linked = params.get("organizer") || params.get("invoice") || params.get("message");
  if (linked) localStorage.setItem(FOCUS_KEY, linked);
  const linkToken = params.get("token");
  if (params.size) history.replaceState(null, "", location.pathname); // the token goes first
  $("#sign-in").addEventListener("submit", requestLink);
  $("#sign-out").addEventListener("click", () => showSignIn("You are signed out."));
  if (linkToken) {
    try {
      const payload = await mutate(null, SIGN_IN, { linkToken }, "signIn");
      localStorage.setItem(TOKEN_KEY, payload.token);
    } catch (error) {
      showSignIn();
      showError(error.message);
      return;
    }
  }
  if (localStorage.getItem(TOKEN_KEY)) await load();
  else showSignIn();
}

start();
