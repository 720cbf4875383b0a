// The Discord fake's channel, drawn the way Discord's client shows webhook messages.
//
// Every piece of text a message carries reaches the page as a text node (createTextNode) and
// nothing else: no innerHTML, no attribute built from message text except hrefs that passed
// safeUrl (http and https only) and image sources that are http(s) or the fake's own
// attachment URLs. The page polls the fake's feed and redraws only the messages that changed.
"use strict";

const FEED = "/_fake/messages";
const POLL_MS = 1000;
const GROUP_MS = 7 * 60 * 1000; // Discord groups a sender's messages sent within 7 minutes
const DEFAULT_USERNAME = "webhook";

const drawn = new Map(); // message id -> {signature, node}
const openVersions = new Set(); // ids of messages whose earlier versions are shown
let lastFeed = null;
let drawState = "live";

// Building DOM

function h(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function safeUrl(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

// A jump link to a message of this channel (https://discord.com/channels/guild/channel/message)
// scrolls to it on this page, as Discord's client does, instead of opening discord.com.
const JUMP_LINK = /^https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/channels\/\d+\/\d+\/(\d+)\/?$/;

function jumpTarget(url) {
  const match = JUMP_LINK.exec(url);
  return match ? match[1] : null;
}

function jumpTo(id) {
  const node = document.getElementById(`message-${id}`);
  if (!node) return false;
  node.scrollIntoView({block: "center"});
  node.classList.remove("jumped");
  void node.offsetWidth; // restart the highlight when the same message is jumped to again
  node.classList.add("jumped");
  return true;
}

function link(url, ...children) {
  const a = h("a", "link", ...children);
  a.title = url;
  const target = jumpTarget(url);
  if (target) {
    a.href = `#message-${target}`;
    a.classList.add("jump");
    a.addEventListener("click", (event) => {
      if (jumpTo(target)) event.preventDefault();
      else Object.assign(a, {href: url, target: "_blank", rel: "noopener noreferrer"}); // not here: Discord has it
    });
    return a;
  }
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

function str(value) {
  return typeof value === "string" ? value : value === null || value === undefined ? "" : String(value);
}

// Markdown, the subset Discord renders that our messages use: fenced code blocks, inline code,
// bold, masked links [text](url), <url> and bare http(s) URLs, and backslash escapes.

const FENCE = /```(?:([A-Za-z0-9_+\-.#]+)?\n)?([\s\S]*?)```/g;
const INLINE = [
  ["escape", /\\([\\*_`~|<>#[\]()-])/],
  ["code", /``([^`]+?)``|`([^`\n]+?)`/],
  ["link", /\[([^[\]\n]+)\]\(<?([^\s<>()]+)>?\)/],
  ["bold", /\*\*(?=\S)([\s\S]*?\S)\*\*/],
  ["angle", /<(https?:\/\/[^\s<>]+)>/],
  ["url", /https?:\/\/[^\s<]*[^\s<.,:;"'!?)\]]/],
];

function markdown(text, links = true) {
  const fragment = document.createDocumentFragment();
  let at = 0;
  for (const match of str(text).matchAll(FENCE)) {
    if (match.index > at) fragment.append(inline(text.slice(at, match.index), links));
    const code = match[2].replace(/^\n/, "").replace(/\n$/, "");
    const block = h("pre", "code-block", h("code", null, code));
    if (match[1]) block.dataset.language = match[1];
    fragment.append(block);
    at = match.index + match[0].length;
  }
  if (at < str(text).length) fragment.append(inline(str(text).slice(at), links));
  return fragment;
}

function inline(text, links = true) {
  const fragment = document.createDocumentFragment();
  let rest = text;
  while (rest) {
    let best = null;
    for (const [kind, pattern] of INLINE) {
      if (!links && (kind === "link" || kind === "angle" || kind === "url")) continue;
      const match = pattern.exec(rest);
      if (match && (best === null || match.index < best.match.index)) best = {kind, match};
    }
    if (best === null) {
      fragment.append(rest);
      break;
    }
    const {kind, match} = best;
    if (match.index > 0) fragment.append(rest.slice(0, match.index));
    fragment.append(inlineNode(kind, match, links));
    rest = rest.slice(match.index + match[0].length);
  }
  return fragment;
}

function inlineNode(kind, match, links) {
  if (kind === "escape") return match[1];
  if (kind === "code") return h("code", "inline-code", match[1] ?? match[2]);
  if (kind === "bold") return h("strong", null, inline(match[1], links));
  if (kind === "link") {
    // Only http(s) targets become links; anything else stays the text it was.
    const url = safeUrl(match[2]);
    return url ? link(url, inline(match[1], false)) : match[0];
  }
  const url = safeUrl(kind === "angle" ? match[1] : match[0]);
  return url ? link(url, kind === "angle" ? match[1] : match[0]) : match[0];
}

// Time, in the reader's time zone and locale

function parseTime(value) {
  if (typeof value !== "string") return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function clock(date) {
  return date.toLocaleTimeString(undefined, {hour: "2-digit", minute: "2-digit"});
}

function discordTime(date) {
  const now = new Date();
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, now)) return `Today at ${clock(date)}`;
  if (sameDay(date, yesterday)) return `Yesterday at ${clock(date)}`;
  return `${date.toLocaleDateString(undefined, {year: "numeric", month: "2-digit", day: "2-digit"})} ${clock(date)}`;
}

function timeNode(className, date, text) {
  const node = h("time", className, text ?? discordTime(date));
  node.dateTime = date.toISOString();
  node.title = date.toLocaleString(undefined, {dateStyle: "full", timeStyle: "medium"});
  return node;
}

// Embeds and attachments

function colour(value) {
  return Number.isInteger(value) && value >= 0 && value <= 0xffffff ? `#${value.toString(16).padStart(6, "0")}` : null;
}

function imageSource(value, attachments) {
  if (typeof value !== "string") return null;
  if (value.startsWith("attachment://")) {
    const file = attachments.find((a) => a.filename === value.slice("attachment://".length));
    return file ? file.url : null;
  }
  return safeUrl(value);
}

function image(className, value, attachments, alt) {
  const source = imageSource(value, attachments);
  if (!source) {
    const missing = str(value).startsWith("attachment://") ? `${str(value)} (not attached)` : "(image)";
    return h("div", `${className} missing-image`, missing);
  }
  const img = h("img", className);
  img.src = source;
  img.alt = alt;
  img.loading = "lazy";
  return img;
}

function fieldNodes(fields, hasThumbnail) {
  const nodes = [];
  const perRow = hasThumbnail ? 2 : 3;
  let row = [];
  const flush = () => {
    const span = 12 / row.length;
    row.forEach((node, n) => {
      node.style.gridColumn = `${1 + n * span} / ${1 + (n + 1) * span}`;
    });
    row = [];
  };
  for (const field of fields) {
    if (!field || typeof field !== "object") continue;
    const node = h(
      "div",
      "embed-field",
      h("div", "embed-field-name", inline(str(field.name), false)),
      h("div", "embed-field-value", markdown(str(field.value))),
    );
    if (field.inline === true) {
      if (row.length === perRow) flush();
      row.push(node);
    } else {
      if (row.length) flush();
      node.style.gridColumn = "1 / 13";
    }
    nodes.push(node);
  }
  if (row.length) flush();
  return nodes;
}

function renderEmbed(embed, attachments) {
  const node = h("article", "embed");
  const bar = colour(embed.color);
  if (bar) node.style.borderLeftColor = bar;
  const main = h("div", "embed-main");
  const author = embed.author && typeof embed.author === "object" ? embed.author : null;
  if (author && author.name) {
    const authorUrl = safeUrl(author.url);
    const name = authorUrl ? link(authorUrl, str(author.name)) : h("span", null, str(author.name));
    const icon = safeUrl(author.icon_url) ? image("embed-author-icon", author.icon_url, attachments, "") : null;
    main.append(h("div", "embed-author", icon, name));
  }
  if (embed.title) {
    const titleUrl = safeUrl(embed.url);
    const title = inline(str(embed.title), false);
    main.append(h("div", "embed-title", titleUrl ? link(titleUrl, title) : title));
  }
  if (embed.description) main.append(h("div", "embed-description", markdown(str(embed.description))));
  const thumbnail = embed.thumbnail && typeof embed.thumbnail === "object" ? embed.thumbnail : null;
  if (Array.isArray(embed.fields) && embed.fields.length) {
    main.append(h("div", "embed-fields", ...fieldNodes(embed.fields, Boolean(thumbnail))));
  }
  const picture = embed.image && typeof embed.image === "object" ? embed.image : null;
  if (picture && picture.url) main.append(image("embed-image", picture.url, attachments, "embed image"));
  const footer = embed.footer && typeof embed.footer === "object" ? embed.footer : null;
  const stamp = parseTime(embed.timestamp);
  if ((footer && footer.text) || stamp) {
    const parts = h("div", "embed-footer");
    if (footer && safeUrl(footer.icon_url)) parts.append(image("embed-footer-icon", footer.icon_url, attachments, ""));
    const text = h("span", "embed-footer-text");
    if (footer && footer.text) text.append(str(footer.text));
    if (footer && footer.text && stamp) text.append(h("span", "embed-footer-separator", " • "));
    if (stamp) text.append(timeNode("embed-timestamp", stamp));
    parts.append(text);
    main.append(parts);
  }
  node.append(main);
  if (thumbnail && thumbnail.url) node.append(image("embed-thumbnail", thumbnail.url, attachments, "thumbnail"));
  return node;
}

function referencedFiles(payload) {
  const names = new Set();
  for (const embed of Array.isArray(payload.embeds) ? payload.embeds : []) {
    for (const part of [embed && embed.image, embed && embed.thumbnail]) {
      const url = part && typeof part === "object" ? str(part.url) : "";
      if (url.startsWith("attachment://")) names.add(url.slice("attachment://".length));
    }
  }
  return names;
}

function renderAttachments(payload, attachments) {
  const shown = referencedFiles(payload);
  const loose = attachments.filter((file) => !shown.has(file.filename));
  if (!loose.length) return null;
  return h(
    "div",
    "attachments",
    ...loose.map((file) => {
      if (file.image) return image("attachment-image", `attachment://${file.filename}`, attachments, file.filename);
      const card = h("div", "attachment-file", h("span", "attachment-size", `${file.size} bytes`));
      card.prepend(link(new URL(file.url, location.href).href, file.filename));
      return card;
    }),
  );
}

// Messages

function renderBody(payload, attachments, edited) {
  const body = document.createDocumentFragment();
  const content = str(payload.content);
  if (content || edited) {
    const node = h("div", "content", content ? markdown(content) : null);
    if (edited) node.append(edited);
    body.append(node);
  }
  const embeds = (Array.isArray(payload.embeds) ? payload.embeds : []).filter((e) => e && typeof e === "object");
  if (embeds.length) body.append(h("div", "embeds", ...embeds.map((e) => renderEmbed(e, attachments))));
  const files = renderAttachments(payload, attachments);
  if (files) body.append(files);
  return body;
}

function bellSlash() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon");
  const bell = document.createElementNS(ns, "path");
  bell.setAttribute("d", "M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2Zm6-6v-5a6 6 0 0 0-5-5.9V4a1 1 0 1 0-2 0v1.1A6 6 0 0 0 6 11v5l-2 2v1h16v-1Z");
  const slash = document.createElementNS(ns, "path");
  slash.setAttribute("d", "M3 3l18 18");
  slash.setAttribute("class", "slash");
  svg.append(bell, slash);
  return svg;
}

function author(payload) {
  return {name: str(payload.username) || DEFAULT_USERNAME, avatar: safeUrl(payload.avatar_url)};
}

function avatar(who) {
  const fallback = h("div", "avatar avatar-default", who.name.slice(0, 1).toUpperCase() || "?");
  if (!who.avatar) return fallback;
  const img = h("img", "avatar");
  img.alt = "";
  img.src = who.avatar;
  img.addEventListener("error", () => img.replaceWith(fallback), {once: true});
  return img;
}

function renderVersions(message) {
  const versions = Array.isArray(message.versions) ? message.versions : [];
  const total = versions.length + 1;
  const panel = h(
    "div",
    "versions",
    h("div", "versions-title", `Earlier versions (${versions.length}); the message now is version ${total}`),
  );
  versions.forEach((payload, n) => {
    const label = n === 0 ? `Version 1 of ${total}, as first posted` : `Version ${n + 1} of ${total}`;
    panel.append(h("section", "version", h("div", "version-label", label), renderBody(payload, message.attachments)));
  });
  return panel;
}

function renderMessage(message, grouped) {
  const payload = message.payload && typeof message.payload === "object" ? message.payload : {};
  const who = author(payload);
  const created = parseTime(message.created) ?? new Date(0);
  const node = h("li", grouped ? "message grouped" : "message");
  node.id = `message-${message.id}`;
  node.dataset.messageId = message.id;
  if (message.quiet) node.classList.add("quiet");

  if (grouped) {
    node.append(h("div", "gutter", timeNode("gutter-time", created, clock(created))));
  } else {
    node.append(avatar(who));
  }
  const body = h("div", "message-body");
  const badges = [];
  if (message.quiet) {
    const quiet = h("span", "quiet-badge", bellSlash(), "quiet");
    quiet.title = "Sent with SUPPRESS_NOTIFICATIONS: nobody was notified";
    badges.push(quiet);
  }
  if (!grouped) {
    body.append(
      h(
        "h3",
        "message-header",
        h("span", "username", who.name),
        h("span", "app-tag", "APP"),
        timeNode("timestamp", created),
        ...badges,
      ),
    );
  } else if (badges.length) {
    body.append(h("div", "message-badges", ...badges));
  }

  let edited = null;
  const editedAt = parseTime(message.edited);
  if (editedAt) {
    edited = h("button", "edited", "(edited)");
    edited.type = "button";
    edited.title = `Edited ${editedAt.toLocaleString(undefined, {dateStyle: "full", timeStyle: "medium"})}; click for the earlier versions`;
    edited.setAttribute("aria-expanded", String(openVersions.has(message.id)));
    edited.addEventListener("click", () => toggleVersions(message.id));
  }
  body.append(renderBody(payload, Array.isArray(message.attachments) ? message.attachments : [], edited));
  if (editedAt) {
    const versions = renderVersions(message);
    versions.hidden = !openVersions.has(message.id);
    body.append(versions);
  }
  node.append(body);
  return node;
}

function toggleVersions(id) {
  if (openVersions.has(id)) openVersions.delete(id);
  else openVersions.add(id);
  const node = document.getElementById(`message-${id}`);
  if (!node) return;
  const panel = node.querySelector(":scope > .message-body > .versions");
  if (panel) panel.hidden = !openVersions.has(id);
  const button = node.querySelector(".edited");
  if (button) button.setAttribute("aria-expanded", String(openVersions.has(id)));
}

function render(feed) {
  const list = document.getElementById("messages");
  const messages = Array.isArray(feed.messages) ? feed.messages : [];
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  const seen = new Set();
  let previous = null;
  const nodes = messages.map((message) => {
    const payload = message.payload && typeof message.payload === "object" ? message.payload : {};
    const who = author(payload);
    const created = parseTime(message.created);
    const grouped = Boolean(
      previous &&
        created &&
        previous.who.name === who.name &&
        previous.who.avatar === who.avatar &&
        created - previous.start < GROUP_MS,
    );
    previous = grouped ? previous : {who, start: created ?? new Date(0)};
    const signature = JSON.stringify([message, grouped]);
    seen.add(message.id);
    const known = drawn.get(message.id);
    if (known && known.signature === signature) return known.node;
    const node = renderMessage(message, grouped);
    drawn.set(message.id, {signature, node});
    return node;
  });
  for (const id of [...drawn.keys()]) if (!seen.has(id)) drawn.delete(id);
  list.replaceChildren(...nodes);
  document.getElementById("relay").hidden = !feed.relaying;
  document.body.dataset.messages = String(messages.length);
  if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
}

const STATUS_TEXT = {live: "live", offline: "cannot reach the fake; retrying", error: "could not draw the feed"};

function setStatus(state) {
  const status = document.getElementById("status");
  status.textContent = STATUS_TEXT[state];
  status.dataset.state = state;
}

async function poll() {
  try {
    const response = await fetch(FEED, {cache: "no-store"});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const text = await response.text();
    if (text !== lastFeed) {
      lastFeed = text;
      try {
        render(JSON.parse(text));
        drawState = "live";
      } catch (error) {
        drawState = "error";
        console.error("could not draw the feed", error);
      }
    }
    setStatus(drawState);
  } catch {
    setStatus("offline");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
