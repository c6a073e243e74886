// The Vigil web console: channels, messages with their threads, a composer, live updates.
// Plain JS, no build step. Every text from the server goes into the page as text nodes
// (textContent), never as HTML.
"use strict";

(() => {
  const NAME_KEY = "vigil.user";
  const DEFAULT_USER = "you";
  const BOT = "vigil";

  const state = {
    channels: [], // [{name, description}]
    current: null,
    messages: new Map(), // channel -> Map(id -> top-level message)
    loaded: new Set(), // channels whose history is here
    unread: new Map(),
    openThreads: new Set(),
    threadTarget: null, // top-level message the composer replies to
    thinking: new Map(), // channel -> answers under way
    orphans: new Map(), // parent id -> thread replies that came before their message
    events: null,
  };

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ DOM helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Light markdown: `code`, **bold**, http(s) links, "- " lists, numbered lists, ``` blocks.
  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(https?:\/\/[^\s<>()"']+[^\s<>()"'.,;:!?])/g;

  function inline(text, parent) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) parent.append(text.slice(last, match.index));
      const token = match[0];
      if (match[1]) parent.append(el("code", { text: token.slice(1, -1) }));
      else if (match[2]) parent.append(el("strong", { text: token.slice(2, -2) }));
      else parent.append(el("a", { href: token, rel: "noopener noreferrer", target: "_blank", text: token }));
      last = match.index + token.length;
    }
    if (last < text.length) parent.append(text.slice(last));
    return parent;
  }

  function markdown(text) {
    const out = el("div", { class: "md" });
    const lines = String(text || "").split("\n");
    let list = null;
    let para = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim().startsWith("```")) {
        const code = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith("```"); i++) code.push(lines[i]);
        out.append(el("pre", {}, el("code", { text: code.join("\n") })));
        list = para = null;
        continue;
      }
      const bullet = /^\s*[-*•]\s+(.*)$/.exec(line);
      const numbered = /^\s*(\d+)[.)]\s+(.*)$/.exec(line);
      if (bullet || numbered) {
        const kind = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== kind) {
          list = el(kind);
          if (numbered && numbered[1] !== "1") list.setAttribute("start", numbered[1]);
          out.append(list);
        }
        list.append(inline(bullet ? bullet[1] : numbered[2], el("li")));
        para = null;
        continue;
      }
      list = null;
      if (!line.trim()) {
        para = null;
        continue;
      }
      if (para) para.append(el("br"));
      else out.append((para = el("p")));
      inline(line, para);
    }
    return out;
  }

  function clock(ts) {
    const when = new Date(ts);
    if (Number.isNaN(when.getTime())) return "";
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // ------------------------------------------------------------------ the server

  async function api(path, body) {
    const init = body === undefined
      ? { credentials: "same-origin" }
      : {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        };
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Error("The console is not reachable; is Vigil still running?");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (response.status === 401) banner((data && data.error) || "This console needs its token.");
    if (!response.ok) throw new Error((data && data.error) || `The console answered ${response.status}.`);
    return data;
  }

  function banner(text) {
    const node = $("banner");
    node.textContent = text || "";
    node.hidden = !text;
    if (text) {
      clearTimeout(banner.timer);
      banner.timer = setTimeout(() => { node.hidden = true; }, 8000);
    }
  }

  // ------------------------------------------------------------------ the model

  function channelMessages(name) {
    if (!state.messages.has(name)) state.messages.set(name, new Map());
    return state.messages.get(name);
  }

  function byId(a, b) { return a.id - b.id; }

  function mergeThread(old, fresh) {
    const children = new Map();
    for (const child of (old && old.thread) || []) children.set(child.id, child);
    for (const child of fresh.thread || []) {
      const had = children.get(child.id);
      if (!had || (child.rev || 0) >= (had.rev || 0)) children.set(child.id, child);
    }
    return [...children.values()].sort(byId);
  }

  // A message from history, an event or a reply: kept if newer than the copy we have.
  // Returns the id of the top-level message to redraw, or null.
  function upsert(msg) {
    const messages = channelMessages(msg.channel);
    if (msg.parent === null || msg.parent === undefined) {
      const old = messages.get(msg.id);
      const early = state.orphans.get(msg.id) || [];
      state.orphans.delete(msg.id);
      if (old && (old.rev || 0) > (msg.rev || 0)) {
        old.thread = mergeThread(old, { thread: [...(msg.thread || []), ...early] });
      } else {
        const merged = { ...msg, thread: mergeThread(old, msg) };
        merged.thread = mergeThread(merged, { thread: early });
        messages.set(msg.id, merged);
      }
      return msg.id;
    }
    const top = messages.get(msg.parent);
    if (!top) {
      // its message is not here yet (history on its way): attach it when it comes
      const waiting = state.orphans.get(msg.parent) || [];
      if (waiting.length < 200) waiting.push(msg);
      state.orphans.set(msg.parent, waiting);
      return null;
    }
    top.thread = mergeThread(top, { thread: [msg] });
    return top.id;
  }

  function findMessage(channel, id) {
    for (const top of channelMessages(channel).values()) {
      if (top.id === id) return top;
      for (const child of top.thread || []) if (child.id === id) return child;
    }
    return null;
  }

  // ------------------------------------------------------------------ rendering

  function renderChannels() {
    const list = $("channels");
    list.replaceChildren(
      ...state.channels.map((channel) => {
        const unread = state.unread.get(channel.name) || 0;
        const current = channel.name === state.current;
        return el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "channel" + (current ? " current" : "") + (unread ? " has-unread" : ""),
              "data-channel": channel.name,
              "aria-current": current ? "page" : null,
              title: channel.description || null,
              onclick: () => select(channel.name),
            },
            el("span", { class: "hash", "aria-hidden": "true", text: "#" }),
            el("span", { class: "label", text: channel.name }),
            unread ? el("span", { class: "unread", "aria-label": `${unread} unread`, text: String(unread) }) : null,
          ),
        );
      }),
    );
  }

  function renderPart(part, msg) {
    switch (part.type) {
      case "section":
        return el("div", { class: "part section" },
          part.title ? el("h4", { text: part.title }) : null, markdown(part.text));
      case "fields":
        return el("dl", { class: "part fields" },
          ...part.items.map(([key, value]) => el("div", { class: "field" },
            el("dt", { text: key }), inline(value, el("dd")))));
      case "table":
        return el("div", { class: "part table-wrap" },
          el("table", {},
            el("thead", {}, el("tr", {}, ...part.columns.map((c) => el("th", { scope: "col", text: c })))),
            el("tbody", {}, ...part.rows.map((row) => el("tr", {}, ...row.map((c) => el("td", { text: c })))))));
      case "chart": {
        const img = el("img", { src: part.url, alt: part.alt || part.title, class: "chart" });
        img.addEventListener("error", () => {
          img.replaceWith(el("p", { class: "chart-gone", text: `[chart no longer kept: ${part.title}]` }));
        });
        return el("figure", { class: "part figure" }, img, el("figcaption", { text: part.title }));
      }
      case "buttons":
        return el("div", { class: "part buttons", role: "group", "aria-label": "Actions" },
          ...part.buttons.map((button) => el("button", {
            type: "button",
            class: `btn btn-${button.style || "default"}`,
            "data-command": button.command,
            disabled: msg.closed || msg.ephemeral,
            title: button.command,
            onclick: (event) => press(msg, button, event.currentTarget),
            text: button.label,
          })));
      case "context":
        return inline(part.text, el("div", { class: "part context" }));
      default:
        return null;
    }
  }

  function messageNode(msg, isChild) {
    const bot = msg.user === BOT;
    const node = el("article", {
      class: ["msg", bot ? "bot" : "human", msg.error ? "error" : "", msg.ephemeral ? "ephemeral" : "",
        msg.closed ? "closed" : ""].filter(Boolean).join(" "),
      id: `m${msg.id}`,
      "data-id": msg.id,
    });
    node.append(
      el("div", { class: "avatar", "aria-hidden": "true", text: bot ? "◉" : (msg.user || "?").slice(0, 1).toUpperCase() }),
    );
    const body = el("div", { class: "body" });
    body.append(el("header", { class: "meta" },
      el("span", { class: "user", text: bot ? "Vigil" : msg.user }),
      el("time", { datetime: msg.ts, text: clock(msg.ts) }),
      msg.ephemeral ? el("span", { class: "only-you", text: "only visible to you" }) : null));
    body.append(markdown(msg.text));
    for (const part of msg.parts || []) {
      const rendered = renderPart(part, msg);
      if (rendered) body.append(rendered);
    }
    for (const line of msg.status || []) inline(line, body.appendChild(el("div", { class: "part context status" })));
    if (!isChild) {
      const thread = msg.thread || [];
      if (thread.length) {
        const details = el("details", { class: "thread", open: state.openThreads.has(msg.id) });
        details.addEventListener("toggle", () => {
          if (details.open) state.openThreads.add(msg.id);
          else state.openThreads.delete(msg.id);
        });
        details.append(el("summary", { text: `${thread.length} ${thread.length === 1 ? "reply" : "replies"}` }));
        for (const child of thread) details.append(messageNode(child, true));
        body.append(details);
      }
      if (!msg.ephemeral) {
        body.append(el("div", { class: "msg-actions" }, el("button", {
          type: "button", class: "link", text: "Reply in thread",
          onclick: () => replyInThread(msg),
        })));
      }
    }
    node.append(body);
    return node;
  }

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function renderMessages() {
    const box = $("messages");
    const messages = [...channelMessages(state.current).values()].sort(byId);
    if (!messages.length) {
      box.replaceChildren(el("p", { class: "empty", text: state.loaded.has(state.current) ? "No messages yet." : "Loading…" }));
      return;
    }
    box.replaceChildren(...messages.map((m) => messageNode(m, false)));
    box.scrollTop = box.scrollHeight;
  }

  function redraw(channel, topId) {
    if (channel !== state.current || topId === null) return;
    const box = $("messages");
    const msg = channelMessages(channel).get(topId);
    if (!msg) return;
    const stick = nearBottom(box);
    const fresh = messageNode(msg, false);
    const existing = document.getElementById(`m${topId}`);
    if (existing && existing.parentElement === box) {
      existing.replaceWith(fresh);
    } else {
      box.querySelector(".empty")?.remove();
      const after = [...box.children].find((n) => Number(n.dataset.id) > topId);
      box.insertBefore(fresh, after || null);
    }
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function renderHeader() {
    const channel = state.channels.find((c) => c.name === state.current);
    $("channel-name").textContent = `#${state.current || ""}`;
    $("channel-desc").textContent = (channel && channel.description) || "";
    $("text").placeholder = state.current ? `Message #${state.current} (ask Vigil, or type help)` : "";
    document.title = state.current ? `#${state.current} · Vigil` : "Vigil console";
  }

  function renderThinking() {
    $("thinking").hidden = !(state.thinking.get(state.current) > 0);
  }

  // ------------------------------------------------------------------ actions

  // History merges with what events brought meanwhile; ``fresh`` (after a reset) starts over,
  // keeping only this page's own ephemeral replies.
  async function loadHistory(channel, fresh) {
    const data = await api(`/api/channels/${encodeURIComponent(channel)}/messages`);
    const messages = channelMessages(channel);
    if (fresh) {
      const local = [...messages.values()].filter((m) => m.ephemeral);
      messages.clear();
      for (const msg of local) messages.set(msg.id, msg);
    }
    for (const msg of data.messages) upsert(msg);
    state.loaded.add(channel);
    if (channel === state.current) renderMessages();
  }

  async function select(channel) {
    state.current = channel;
    state.unread.delete(channel);
    if (state.threadTarget && state.threadTarget.channel !== channel) setThreadTarget(null);
    if (location.hash !== `#${channel}`) history.replaceState(null, "", `#${channel}`);
    renderChannels();
    renderHeader();
    renderThinking();
    renderMessages();
    $("text").focus();
    if (!state.loaded.has(channel)) {
      try {
        await loadHistory(channel, false);
      } catch (err) {
        banner(err.message);
      }
    }
  }

  function userName() {
    const value = $("user").value.trim();
    return value || DEFAULT_USER;
  }

  function setThreadTarget(msg) {
    state.threadTarget = msg;
    $("thread-target").hidden = !msg;
    $("thread-target-text").textContent = msg ? `Replying in thread: ${msg.text.split("\n")[0].slice(0, 80)}` : "";
  }

  function replyInThread(msg) {
    state.openThreads.add(msg.id);
    setThreadTarget(msg);
    redraw(msg.channel, msg.id);
    $("text").focus();
  }

  function thinking(channel, delta) {
    state.thinking.set(channel, (state.thinking.get(channel) || 0) + delta);
    renderThinking();
  }

  function accept(msg) {
    if (!msg) return;
    redraw(msg.channel, upsert(msg));
  }

  async function send() {
    const box = $("text");
    const text = box.value;
    if (!text.trim() || !state.current) return;
    const channel = state.current;
    const body = { text, user: userName() };
    if (state.threadTarget) {
      body.thread = state.threadTarget.id;
      state.openThreads.add(state.threadTarget.id);
    }
    box.value = "";
    autosize();
    thinking(channel, +1);
    try {
      const data = await api(`/api/channels/${encodeURIComponent(channel)}/messages`, body);
      accept(data.message);
      accept(data.reply);
    } catch (err) {
      if (!box.value) box.value = text;
      banner(err.message);
    } finally {
      thinking(channel, -1);
    }
  }

  async function press(msg, button, node) {
    const group = node.closest(".buttons");
    const buttons = group ? [...group.querySelectorAll("button")] : [node];
    buttons.forEach((b) => { b.disabled = true; });
    state.openThreads.add(msg.parent ?? msg.id);
    thinking(msg.channel, +1);
    try {
      const data = await api("/api/actions", { message_id: msg.id, command: button.command, user: userName() });
      accept(data.reply);
    } catch (err) {
      banner(err.message);
    } finally {
      thinking(msg.channel, -1);
      const current = findMessage(msg.channel, msg.id);
      // redraw from the model: buttons stay disabled when the message was closed meanwhile
      redraw(msg.channel, current ? (current.parent ?? current.id) : null);
    }
  }

  // ------------------------------------------------------------------ live updates

  function setConnection(status, text) {
    const node = $("conn");
    node.className = `conn ${status}`;
    node.textContent = text;
  }

  function onEvent(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    if (data.type === "reset") {
      reloadAll(true);
      return;
    }
    const msg = data.message;
    if (!msg) return;
    const known = state.channels.some((c) => c.name === msg.channel);
    if (!known) {
      state.channels.push({ name: msg.channel, description: "" });
      renderChannels();
    }
    const isNew = data.type === "new" && !findMessage(msg.channel, msg.id);
    accept(msg);
    if (isNew && msg.channel !== state.current) {
      state.unread.set(msg.channel, (state.unread.get(msg.channel) || 0) + 1);
      renderChannels();
    }
  }

  function connect() {
    if (state.events) state.events.close();
    const events = new EventSource("/api/events");
    state.events = events;
    events.onopen = () => setConnection("live", "live");
    events.onmessage = onEvent;
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED) {
        // refused (token, too many pages) or gone: try again later, then catch up
        setConnection("offline", "offline — retrying");
        setTimeout(() => { connect(); reloadAll(false); }, 5000);
      } else {
        setConnection("connecting", "reconnecting…");
      }
    };
  }

  async function reloadAll(fresh) {
    state.orphans.clear();
    for (const channel of [...state.loaded]) {
      try {
        await loadHistory(channel, fresh);
      } catch (err) {
        banner(err.message);
      }
    }
  }

  // ------------------------------------------------------------------ composer

  function autosize() {
    const box = $("text");
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight, 200)}px`;
  }

  function wire() {
    const box = $("text");
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      } else if (event.key === "Escape" && state.threadTarget) {
        setThreadTarget(null);
      }
    });
    box.addEventListener("input", autosize);
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    $("thread-cancel").addEventListener("click", () => setThreadTarget(null));
    const name = $("user");
    name.value = (localStorage.getItem(NAME_KEY) || DEFAULT_USER).slice(0, 40);
    name.addEventListener("change", () => {
      const value = name.value.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 40) || DEFAULT_USER;
      name.value = value;
      localStorage.setItem(NAME_KEY, value);
    });
    window.addEventListener("hashchange", () => {
      const wanted = hashChannel();
      if (wanted && wanted !== state.current && state.channels.some((c) => c.name === wanted)) select(wanted);
    });
  }

  function hashChannel() {
    try {
      return decodeURIComponent(location.hash.slice(1));
    } catch (err) {
      return ""; // a malformed address (#%) selects the default channel
    }
  }

  async function main() {
    wire();
    try {
      const data = await api("/api/channels");
      state.channels = data.channels;
    } catch (err) {
      banner(err.message);
      setConnection("offline", "offline");
      return;
    }
    connect();
    const wanted = hashChannel();
    const names = state.channels.map((c) => c.name);
    const first = names.includes(wanted) ? wanted : names.includes("general") ? "general" : names[0];
    if (first) await select(first);
  }

  document.addEventListener("DOMContentLoaded", main);
})();
