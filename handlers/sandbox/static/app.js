// Tsunagu sandbox page: renders what the bot sent to the fake LINE and Slack, and turns
// every tap, click, modal submission and slash command into a signed request to the
// app's real webhooks (the sandbox signs; this page POSTs).
"use strict";

const TEXT = {
  en: {
    sandbox: "sandbox", intro: "LINE and Slack played by this app. Every tap and click goes to the real webhooks with real signatures.",
    pageLang: "Page language", loadDemo: "Load demo data", lineSub: "volunteers and groups", linePersona: "LINE persona",
    follow: "Add friend", newPersona: "New persona", name: "Name", kind: "Kind", volunteer: "Volunteer", group: "Group",
    lineLanguage: "LINE language", create: "Create", message: "Message", send: "Send", slackSub: "coordinators",
    slackUser: "Slack user", channels: "Channels", command: "Slash command", noPersona: "Create a persona to start",
    followed: "You added Tsunagu as a friend", unfollowed: "You blocked Tsunagu", onlyYou: "Only visible to you",
    quick: "Quick replies", demoLoaded: "Demo data loaded: 5 groups and 18 volunteers.", demoThere: "The demo data was already loaded.",
    sent: "Sent.", failed: "The app answered", coordinator: "coordinator", notCoordinator: "not a coordinator",
    commandOnly: "Type a slash command, e.g. /tsunagu help", replies: "replies", edited: "edited", bot: "Tsunagu (bot)",
    home: "Home", homeHint: "Open the Home tab to see the office's dashboard (coordinators) or your own page.", download: "Download",
    dm: "Direct messages", cancel: "Cancel", unknownType: "message", json: "JSON sent",
    calendarNow: "Programme time", plusDay: "+1 day", plusWeek: "+1 week",
    moved: "Programme time is now {now} (sandbox only).",
    nothingDue: "Nothing was due on the way.",
    doneSent: "{n} announcement(s) sent", doneSkipped: "{n} skipped (too late to send)", doneCheckins: "{n} weekly check-in(s) asked",
    demoLoading: "Loading demo data… the cards appear in Slack as the coordinators accept the requests.",
    startLine: "Start here: “Load demo data” at the top fills both sides, or open “New persona” and tap “Add friend” to talk to the bot as a volunteer or a group.",
    startSlack: "Requests and team proposals from LINE appear here as cards. Type /tsunagu help below for the commands.",
    moving: "Moving the programme time forward…",
    choose: "Choose…", unsupported: "The sandbox cannot draw this element", optional: "optional",
    required: "Please fill in this field.", invalid: "Please give a valid value",
    loading: "Tsunagu is preparing an answer",
  },
  ja: {
    sandbox: "サンドボックス", intro: "LINE と Slack をこのアプリが再現します。タップやクリックは本物の署名付きで本物の Webhook に届きます。",
    pageLang: "ページの言語", loadDemo: "デモデータを読み込む", lineSub: "ボランティアと団体", linePersona: "LINE の人物",
    follow: "友だち追加", newPersona: "新しい人物", name: "名前", kind: "種類", volunteer: "ボランティア", group: "団体",
    lineLanguage: "LINE の言語", create: "作成", message: "メッセージ", send: "送信", slackSub: "コーディネーター",
    slackUser: "Slack のユーザー", channels: "チャンネル", command: "スラッシュコマンド", noPersona: "人物を作成してください",
    followed: "Tsunagu を友だち追加しました", unfollowed: "Tsunagu をブロックしました", onlyYou: "あなただけに表示されています",
    quick: "クイックリプライ", demoLoaded: "デモデータ（5団体・18人）を読み込みました。", demoThere: "デモデータは読み込み済みです。",
    sent: "送信しました。", failed: "アプリの応答", coordinator: "コーディネーター", notCoordinator: "コーディネーターではない",
    commandOnly: "スラッシュコマンドを入力してください（例: /tsunagu help）", replies: "件の返信", edited: "編集済み", bot: "Tsunagu（ボット）",
    home: "ホーム", homeHint: "ホームタブを開くと事務局のダッシュボード（コーディネーター）か、あなたのページが出ます。", download: "ダウンロード",
    dm: "ダイレクトメッセージ", cancel: "キャンセル", unknownType: "メッセージ", json: "送信された JSON",
    calendarNow: "プログラムの時刻", plusDay: "+1日", plusWeek: "+1週間",
    moved: "プログラムの時刻を {now} に進めました（サンドボックスのみ）。",
    nothingDue: "途中で予定されていたものはありませんでした。",
    doneSent: "お知らせ {n} 件を送信", doneSkipped: "{n} 件は送信期限切れ", doneCheckins: "週次チェックイン {n} 件",
    demoLoading: "デモデータを読み込んでいます… コーディネーターが相談を受け付けると Slack にカードが届きます。",
    startLine: "はじめに: 上の「デモデータを読み込む」で両側に例が入ります。または「新しい人物」を作って「友だち追加」を押すと、ボランティアや団体としてボットと話せます。",
    startSlack: "LINE からの相談やチーム案がここにカードで届きます。下に /tsunagu help と入力するとコマンドの一覧が出ます。",
    moving: "プログラムの時刻を進めています…",
    choose: "選択してください…", unsupported: "サンドボックスでは表示できない要素です", optional: "任意",
    required: "この項目を入力してください。", invalid: "正しい値を入力してください",
    loading: "Tsunagu が回答を準備しています",
  },
};

const $ = (id) => document.getElementById(id);
const ui = {
  lang: localStorage.getItem("sandbox.lang") || ((navigator.language || "en").startsWith("ja") ? "ja" : "en"),
  persona: localStorage.getItem("sandbox.persona") || "",
  slackUser: localStorage.getItem("sandbox.slackUser") || "",
  channel: localStorage.getItem("sandbox.channel") || "",
};
let state = null;
let lineKey = "";
let slackKey = "";
let modalKey = "";
let opener = null;  // where focus returns when a modal closes
let waiters = [];  // checks that wait for the next state (see until)

function t(key) { return (TEXT[ui.lang] || TEXT.en)[key] || TEXT.en[key] || key; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else if (k === "html") node.innerHTML = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function say(message, error = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", error);
}

function applyLanguage() {
  document.documentElement.lang = ui.lang;
  $("ui-lang").value = ui.lang;
  document.querySelectorAll("[data-t]").forEach((node) => { node.textContent = t(node.dataset.t); });
  $("quick-replies").setAttribute("aria-label", t("quick"));
  lineKey = slackKey = modalKey = "";
  if (state) render();
}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status}`);
  return data;
}

// The sandbox builds and signs what LINE or Slack would send; the page delivers it to the
// app's own webhook, so the request passes the SDK's signature check like a real one.
async function deliver(signed) {
  const response = await fetch(signed.url, { method: "POST", headers: signed.headers, body: signed.body });
  const text = await response.text();
  if (!response.ok) { say(`${t("failed")}: ${response.status} ${text}`, true); throw new Error(text); }
  return text;
}

// ------------------------------------------------------------------------------- polling

async function poll() {
  let since = -1;
  for (;;) {
    try {
      const response = await fetch(`/sandbox/api/state?since=${since}`, { cache: "no-store" });
      state = await response.json();
      since = state.version;
      render();
      const waiting = waiters;
      waiters = [];
      waiting.forEach((look) => look());
    } catch (err) {
      await new Promise((resolve) => setTimeout(resolve, 1000));  // server restarting
    }
  }
}

function render() {
  renderLine();
  renderSlack();
  if (state && state.calendar_now) $("calendar-now").textContent = state.calendar_now;
}

// ------------------------------------------------------------------------------- LINE

function renderLine() {
  const personas = state.line.personas;
  if (!personas.some((p) => p.user_id === ui.persona)) ui.persona = personas.length ? personas[0].user_id : "";
  const select = $("persona");
  const options = personas.map((p) => `${p.user_id}|${p.name}|${p.kind}|${p.language}`).join(";");
  if (select.dataset.options !== options + ui.lang) {
    select.replaceChildren(...personas.map((p) => el("option", {
      value: p.user_id, text: `${p.name} — ${t(p.kind) || p.kind}, ${p.language}`,
    })));
    if (!personas.length) select.append(el("option", { value: "", text: t("noPersona") }));
    select.dataset.options = options + ui.lang;
  }
  select.value = ui.persona;
  renderRichMenu();
  // LINE's loading animation while the bot prepares a slow answer.
  const busy = (state.line.loading || []).includes(ui.persona);
  const dots = $("line-loading");
  if (busy && !dots) $("line-chat").after(el("div", { id: "line-loading", class: "loading-dots", role: "status", "aria-label": t("loading"), text: "• • •" }));
  else if (!busy && dots) dots.remove();
  const chat = state.line.chats[ui.persona] || [];
  const key = `${ui.persona}:${chat.length}:${chat.length ? chat[chat.length - 1].id : 0}:${ui.lang}`;
  if (key === lineKey) return;
  lineKey = key;
  const log = $("line-chat");
  // Entries never change once sent: append the new ones so a screen reader hears only those.
  if (log.dataset.persona === ui.persona + ui.lang && Number(log.dataset.count) <= chat.length && !log.querySelector(".hint")) {
    log.append(...chat.slice(Number(log.dataset.count)).map(renderEntry));
  } else {
    log.replaceChildren(...chat.map(renderEntry));
  }
  log.dataset.persona = ui.persona + ui.lang;
  log.dataset.count = String(chat.length);
  if (!chat.length) log.replaceChildren(el("li", { class: "hint", text: t("startLine") }));
  const last = chat[chat.length - 1];
  const quick = $("quick-replies");
  quick.replaceChildren();
  if (last && last.from === "bot") {
    const message = last.messages[last.messages.length - 1];
    for (const item of (message.quickReply && message.quickReply.items) || []) {
      quick.append(actionButton(item.action));
    }
  }
  // Scrolled once the quick-reply bar has its height, so it never covers the last bubble.
  log.scrollTop = log.scrollHeight;
  $("follow").disabled = !ui.persona;
  $("line-text").disabled = !ui.persona;
}

function renderEntry(entry) {
  if (entry.from === "system") {
    return el("li", { class: "from-system", text: entry.text === "follow" ? t("followed") : t("unfollowed") });
  }
  if (entry.from === "user") {
    return el("li", { class: "from-user" }, el("div", { class: "bubble", text: entry.text || "…" }));
  }
  const li = el("li", { class: "from-bot" });
  for (const message of entry.messages) li.append(renderLineMessage(message, entry.via));
  li.append(raw(entry.messages));
  return li;
}

// What the bot sent, exactly as the fake API received it.
function raw(value) {
  return el("details", { class: "raw" }, el("summary", { text: t("json") }), el("pre", { text: JSON.stringify(value, null, 1) }));
}

function renderLineMessage(message, via) {
  if (message.type === "text") {
    const bubble = el("div", { class: "bubble", text: message.text });
    if (via !== "reply") bubble.prepend(el("span", { class: "via", text: via }));
    return bubble;
  }
  if (message.type === "template") {
    const tpl = message.template || {};
    const card = el("div", { class: "card", role: "group", "aria-label": message.altText || "template" });
    if (tpl.title) card.append(el("strong", { text: tpl.title }));
    if (tpl.text) card.append(el("div", { class: "mrkdwn", text: tpl.text }));
    const actions = el("div", { class: "actions" });
    for (const action of tpl.actions || []) actions.append(actionButton(action));
    for (const column of tpl.columns || []) {
      actions.append(el("div", { text: column.text || column.title || "" }));
      for (const action of column.actions || []) actions.append(actionButton(action));
    }
    card.append(actions);
    return card;
  }
  if (message.type === "flex") {
    // A bubble, or a carousel of bubbles side by side, drawn from the flex JSON.
    const contents = message.contents || {};
    const bubbles = contents.type === "carousel" ? contents.contents || [] : [contents];
    const row = el("div", { class: "flex", role: "group", "aria-label": message.altText || "flex" });
    for (const bubble of bubbles) row.append(flexBubble(bubble));
    return row;
  }
  return el("div", { class: "bubble", text: `[${message.type}] ${message.altText || ""}` });
}

function flexBubble(bubble) {
  const card = el("div", { class: `flex-bubble ${bubble.size || ""}` });
  for (const part of ["header", "hero", "body", "footer"]) {
    const block = bubble[part];
    if (!block) continue;
    const node = flexNode(block);
    node.classList.add("flex-block");
    if (block.backgroundColor) node.style.background = block.backgroundColor;
    card.append(node);
  }
  return card;
}

function flexNode(node) {
  if (node.type === "box") {
    const box = el("div", { class: `flex-box ${node.layout || "vertical"}` });
    for (const child of node.contents || []) box.append(flexNode(child));
    return box;
  }
  if (node.type === "text") {
    const text = el("div", { class: `flex-text ${node.size || ""} ${node.weight || ""}`, text: node.text || "" });
    if (node.color) text.style.color = node.color;
    if (node.flex) text.style.flex = String(node.flex);
    return text;
  }
  if (node.type === "button") {
    const button = actionButton(node.action || {});
    button.classList.add("flex-button", node.style || "link");
    if (node.style === "primary") { button.style.background = node.color || "#17c950"; button.style.color = "#fff"; }
    else if (node.style === "secondary") button.style.background = node.color || "#dcdfe5";
    return button;
  }
  if (node.type === "separator") return el("hr");
  return el("span");
}

// The rich menu LINE shows under the chat: the image, with a button over each area.
function renderRichMenu() {
  const menu = (state.line.menus || {})[ui.persona];
  const box = $("rich-menu");
  box.hidden = !menu;
  if (!menu) return;
  const key = `${menu.id}:${ui.lang}`;
  const areas = $("rich-menu-areas");
  $("rich-menu-bar").textContent = `${menu.chatBarText} ${areas.hidden ? "▲" : "▼"}`;
  if (areas.dataset.key === key) return;
  areas.dataset.key = key;
  areas.dataset.alias = menu.alias || "";
  areas.setAttribute("aria-label", menu.chatBarText || "Rich menu");
  areas.style.backgroundImage = `url(${menu.image})`;
  areas.style.aspectRatio = `${menu.size.width} / ${menu.size.height}`;
  const pct = (v, of) => `${(100 * v) / of}%`;
  areas.replaceChildren(...menu.areas.map((area) => {
    const b = area.bounds;
    const button = actionButton(area.action);
    button.setAttribute("aria-label", area.action.label || area.action.text || "");
    button.textContent = "";
    Object.assign(button.style, {
      left: pct(b.x, menu.size.width), top: pct(b.y, menu.size.height),
      width: pct(b.width, menu.size.width), height: pct(b.height, menu.size.height),
    });
    return button;
  }));
}

function actionButton(action) {
  const label = action.label || action.text || action.type;
  if (action.type === "uri") return el("a", { href: action.uri, target: "_blank", rel: "noopener", text: label });
  return el("button", {
    type: "button", text: label,
    onclick: () => {
      if (action.type === "postback") lineSend({ type: "postback", data: action.data, display: action.displayText || action.label });
      else if (action.type === "message") lineSend({ type: "message", text: action.text });
    },
  });
}

async function lineSend(event) {
  if (!ui.persona) return;
  try {
    await deliver(await api("/sandbox/api/line/webhook", { user: ui.persona, ...event }));
  } catch (err) { say(String(err.message || err), true); }
}

// ------------------------------------------------------------------------------- Slack

function person(id) { return state.slack.people.find((p) => p.id === id); }

function mrkdwn(text) {
  let html = String(text || "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  html = html.replace(/&lt;@([A-Z0-9]+)&gt;/g, (_, id) => `<b>@${(person(id) || { name: id }).name}</b>`);
  html = html.replace(/&lt;#([A-Z0-9]+)(\|([^&]*))?&gt;/g, (_, id, _x, name) => `#${name || id}`);
  html = html.replace(/&lt;(https?:[^|&]+)\|([^&]+)&gt;/g, '<a href="$1" target="_blank" rel="noopener">$2</a>');
  html = html.replace(/`([^`\n]+)`/g, "<code>$1</code>");
  html = html.replace(/(^|[\s(（])\*([^*\n]+)\*/g, "$1<b>$2</b>");
  html = html.replace(/(^|[\s(（])_([^_\n]+)_/g, "$1<i>$2</i>");
  html = html.replace(/(^|[\s(（])~([^~\n]+)~/g, "$1<s>$2</s>");
  return html;
}

function renderBlocks(blocks, context) {
  const out = [];
  for (const block of blocks || []) {
    if (block.type === "header") out.push(el("div", { class: "block-header", text: block.text.text }));
    else if (block.type === "section") {
      if (block.text) out.push(el("div", { class: "mrkdwn", html: block.text.type === "mrkdwn" ? mrkdwn(block.text.text) : "" , text: block.text.type === "mrkdwn" ? undefined : block.text.text }));
      if (block.fields) out.push(el("div", { class: "block-fields" }, ...block.fields.map((f) => el("div", { class: "mrkdwn", html: mrkdwn(f.text) }))));
      if (block.accessory && block.accessory.type === "button") out.push(el("div", { class: "block-actions" }, slackButton(block.accessory, context)));
    } else if (block.type === "divider") out.push(el("hr"));
    else if (block.type === "context") out.push(el("div", { class: "block-context mrkdwn", html: (block.elements || []).map((e) => mrkdwn(e.text || "")).join(" ") }));
    else if (block.type === "actions") out.push(el("div", { class: "block-actions" }, ...(block.elements || []).filter((e) => e.type === "button").map((e) => slackButton(e, context))));
    else if (block.type === "rich_text" || block.type === "image") out.push(el("div", { text: block.alt_text || "" }));
  }
  return out;
}

function slackButton(element, context) {
  return el("button", {
    type: "button", class: element.style || undefined, text: element.text.text,
    disabled: !context, "data-key": context ? `${context.ts}|${element.action_id}|${element.value || ""}` : undefined,
    onclick: async () => {
      // A button with a confirm object asks first, as Slack does.
      if (element.confirm && !(await confirmDialog(element.confirm))) return;
      try {
        // A button in the App Home: Slack sends the view as its container, no channel.
        const request = context.home
          ? { type: "home_action", user: ui.slackUser, action_id: element.action_id, value: element.value || "" }
          : { type: "block_actions", user: ui.slackUser, channel: context.channel, ts: context.ts, action_id: element.action_id, value: element.value || "" };
        await deliver(await api("/sandbox/api/slack/request", request));
      } catch (err) { say(String(err.message || err), true); }
    },
  });
}

// Slack's confirmation dialog for a button with a `confirm` object.
function confirmDialog(confirm) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-title").textContent = plainText(confirm.title);
    $("confirm-text").textContent = plainText(confirm.text);
    $("confirm-yes").textContent = plainText(confirm.confirm) || "OK";
    $("confirm-no").textContent = plainText(confirm.deny) || t("cancel");
    $("confirm-yes").classList.toggle("danger", confirm.style === "danger");
    const done = (answer) => {
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
    $("confirm-no").focus();
  });
}

function renderSlack() {
  const slack = state.slack;
  if (!person(ui.slackUser)) ui.slackUser = slack.people.length ? slack.people[0].id : "";
  const users = $("slack-user");
  const signature = slack.people.map((p) => p.id).join() + ui.lang;
  if (users.dataset.options !== signature) {
    users.replaceChildren(...slack.people.map((p) => el("option", {
      value: p.id, text: `${p.real_name} (@${p.name}) — ${p.is_coordinator ? t("coordinator") : t("notCoordinator")}, Slack ${p.locale}`,
    })));
    users.dataset.options = signature;
  }
  users.value = ui.slackUser;
  const visible = slack.channels.filter((c) => !c.is_im || c.members.includes(ui.slackUser));
  if (ui.channel !== HOME && !visible.some((c) => c.id === ui.channel)) ui.channel = state.coordinator_channel;
  const mine = slack.ephemerals.filter((e) => e.user === ui.slackUser && e.channel === ui.channel);
  const home = (slack.homes || {})[ui.slackUser] || null;
  const key = JSON.stringify([ui.lang, ui.slackUser, ui.channel, visible.map((c) => c.id), slack.messages[ui.channel], mine, ui.channel === HOME ? home : null]);
  if (key !== slackKey) {
    slackKey = key;
    const list = $("channels");
    const homeTab = el("li", {}, el("button", {
      type: "button", id: "slack-home-tab", "aria-current": ui.channel === HOME ? "true" : "false", text: `⌂ ${t("home")}`,
      onclick: () => openHome(),
    }));
    list.replaceChildren(homeTab, ...visible.map((c) => el("li", {}, el("button", {
      type: "button", "aria-current": c.id === ui.channel ? "true" : "false",
      text: c.is_im ? `@ ${t("bot")}` : `# ${c.name}`,
      onclick: () => { ui.channel = c.id; localStorage.setItem("sandbox.channel", c.id); render(); },
    }))));
    const channel = slack.channels.find((c) => c.id === ui.channel);
    $("slack-compose").style.display = ui.channel === HOME ? "none" : "";
    if (ui.channel === HOME) {
      $("channel-title").textContent = t("home");
      renderHome(home);
    } else {
      $("channel-title").textContent = channel ? (channel.is_im ? t("dm") : `# ${channel.name}`) : "";
      renderMessages(slack.messages[ui.channel] || [], mine);
    }
  }
  renderModal();
}

// The App Home tab: opening it sends app_home_opened (as Slack does each time); the app
// answers with views.publish, drawn here with its buttons.
const HOME = "__home__";

async function openHome() {
  ui.channel = HOME;
  render();
  try {
    await deliver(await api("/sandbox/api/slack/request", { type: "app_home_opened", user: ui.slackUser }));
  } catch (err) { say(String(err.message || err), true); }
}

function renderHome(home) {
  const list = $("slack-messages");
  list.dataset.channel = HOME;
  if (!home) { list.replaceChildren(el("li", { class: "hint", text: t("homeHint") })); return; }
  list.replaceChildren(el("li", { class: "msg home", "data-home": home.id }, ...renderBlocks(home.blocks, { home: true })));
}

function fileLinks(files) {
  if (!files || !files.length) return null;
  return el("ul", { class: "files" }, ...files.map((f) => el("li", {}, el("a", {
    href: f.url_private_download, download: f.name, text: `${t("download")}: ${f.name}`,
  }))));
}

function renderMessages(messages, ephemerals) {
  const top = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const items = [...top.map((m) => ({ ts: m.ts, m })), ...ephemerals.map((e) => ({ ts: e.ts, e }))];
  items.sort((a, b) => Number(a.ts) - Number(b.ts));
  const list = $("slack-messages");
  // Keep keyboard focus on a button that is drawn again (a card updated in place).
  const follow = list.dataset.channel !== ui.channel || list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const before = list.dataset.channel === ui.channel ? new Set((list.dataset.seen || "").split(",")) : null;
  const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.key : "";
  list.replaceChildren(...items.map((item) => {
    if (item.e) {
      const e = item.e;
      return el("li", { class: "msg ephemeral", "data-ts": e.ts },
        el("div", { class: "who", text: t("bot") }, el("small", { text: t("onlyYou") })),
        e.command ? el("div", { class: "block-context", text: e.command }) : null,
        ...(e.blocks.length ? renderBlocks(e.blocks, { channel: ui.channel, ts: e.ts }) : [el("div", { class: "mrkdwn", html: mrkdwn(e.text) })]));
    }
    const m = item.m;
    const li = el("li", { class: "msg", "data-ts": m.ts },
      el("div", { class: "who", text: t("bot") }, m.edited ? el("small", { text: `(${t("edited")})` }) : null),
      ...((m.blocks || []).length ? renderBlocks(m.blocks, { channel: ui.channel, ts: m.ts }) : [el("div", { class: "mrkdwn", html: mrkdwn(m.text) })]),
      fileLinks(m.files),
      raw({ text: m.text, blocks: m.blocks }));
    const replies = messages.filter((r) => r.thread_ts === m.ts && r.ts !== m.ts);
    if (replies.length) {
      li.append(el("ol", { class: "thread", "aria-label": `${replies.length} ${t("replies")}` }, ...replies.map((r) => el("li", { class: "msg" },
        el("div", { class: "who", text: t("bot") }),
        ...(r.blocks.length ? renderBlocks(r.blocks, { channel: ui.channel, ts: r.ts }) : [el("div", { class: "mrkdwn", html: mrkdwn(r.text) })])))));
    }
    return li;
  }));
  if (!items.length) list.append(el("li", { class: "hint", text: t("startSlack") }));
  // A new card or private answer is brought into view (as Slack jumps to what you just
  // caused); otherwise stay where the reader is, unless they were following the newest.
  const fresh = before ? [...list.querySelectorAll(":scope > li[data-ts]")].filter((li) => !before.has(li.dataset.ts)) : [];
  if (fresh.length) fresh[fresh.length - 1].scrollIntoView({ block: "nearest" });
  else if (follow) list.scrollTop = list.scrollHeight;
  list.dataset.channel = ui.channel;
  list.dataset.seen = items.map((item) => item.ts).join(",");
  const again = focused && [...list.querySelectorAll("button[data-key]")].find((b) => b.dataset.key === focused);
  if (again) again.focus();
}

// A modal opened by the bot (views.open) for the chosen Slack user. Each input block is
// drawn as the element Slack would show (selects, multi-selects, numbers, dates, times,
// checkboxes, radio buttons, text), with its initial value; submitting sends what the
// form holds by block and action id, and the sandbox builds Slack's view state from it.
function optionsOf(element) {
  const options = [...(element.options || [])];
  for (const group of element.option_groups || []) options.push(...(group.options || []));
  return options;
}

function plainText(text) { return (text && text.text) || ""; }

function inputElement(block, id) {
  const element = block.element || {};
  const common = { id, "data-block": block.block_id, "data-action": element.action_id, "data-type": element.type, "aria-describedby": `${id}-error ${id}-hint` };
  const required = !block.optional;
  const placeholder = plainText(element.placeholder) || undefined;
  switch (element.type) {
    case "plain_text_input": {
      const attrs = { ...common, name: id, maxlength: element.max_length, minlength: element.min_length, required, placeholder };
      const node = element.multiline ? el("textarea", { ...attrs, rows: 4 }) : el("input", { ...attrs, type: "text" });
      node.value = element.initial_value || "";
      return node;
    }
    case "number_input": {
      const node = el("input", { ...common, name: id, type: "number", inputmode: element.is_decimal_allowed ? "decimal" : "numeric",
        step: element.is_decimal_allowed ? "any" : "1", min: element.min_value, max: element.max_value, required, placeholder });
      node.value = element.initial_value || "";
      return node;
    }
    case "datepicker": {
      const node = el("input", { ...common, name: id, type: "date", required });
      node.value = element.initial_date || "";
      return node;
    }
    case "timepicker": {
      const node = el("input", { ...common, name: id, type: "time", required });
      node.value = element.initial_time || "";
      return node;
    }
    case "static_select": {
      const chosen = element.initial_option ? element.initial_option.value : "";
      const node = el("select", { ...common, name: id, required },
        el("option", { value: "", text: placeholder || t("choose") }),
        ...optionsOf(element).map((o) => el("option", { value: o.value, text: plainText(o.text) })));
      node.value = chosen;
      return node;
    }
    case "multi_static_select":
    case "checkboxes":
    case "radio_buttons": {
      // A group of boxes: every option visible and reachable by keyboard and label.
      const multi = element.type !== "radio_buttons";
      const initial = new Set(multi ? (element.initial_options || []).map((o) => o.value)
        : element.initial_option ? [element.initial_option.value] : []);
      const group = el("fieldset", { ...common, class: `choices ${element.type}`, "aria-required": required ? "true" : "false", tabindex: "-1" },
        el("legend", { text: plainText(block.label) }));
      for (const option of optionsOf(element)) {
        const box = el("input", { type: multi ? "checkbox" : "radio", name: id, value: option.value });
        box.checked = initial.has(option.value);
        group.append(el("label", {}, box, el("span", { text: plainText(option.text) })));
      }
      return group;
    }
    default:
      return el("div", { ...common, class: "error", text: `${t("unsupported")}: ${element.type}` });
  }
}

function inputValue(node) {
  const type = node.dataset.type;
  if (type === "multi_static_select" || type === "checkboxes") {
    return [...node.querySelectorAll("input:checked")].map((box) => box.value);
  }
  if (type === "radio_buttons") {
    const box = node.querySelector("input:checked");
    return box ? box.value : "";
  }
  return node.value === undefined ? "" : node.value;
}

function renderModal() {
  const views = state.slack.views[ui.slackUser] || [];
  const view = views[views.length - 1];
  const key = view ? JSON.stringify(view) + ui.lang : "";
  if (key === modalKey) return;
  modalKey = key;
  const backdrop = $("modal-backdrop");
  if (!view) {
    if (!backdrop.hidden && opener && document.contains(opener)) opener.focus();
    backdrop.hidden = true;
    return;
  }
  if (backdrop.hidden) opener = document.activeElement;
  $("modal-title").textContent = view.title ? view.title.text : "";
  $("modal-close").textContent = view.close ? view.close.text : t("cancel");
  $("modal-submit").textContent = view.submit ? view.submit.text : t("send");
  $("modal-submit").hidden = !view.submit;
  const body = $("modal-body");
  body.replaceChildren();
  for (const block of view.blocks || []) {
    if (block.type !== "input") { body.append(...renderBlocks([block], null)); continue; }
    const id = `in-${block.block_id}-${block.element.action_id}`;
    const field = inputElement(block, id);
    const grouped = field.tagName === "FIELDSET";
    const optional = block.optional ? el("small", { class: "optional", text: ` (${t("optional")})` }) : null;
    if (grouped && optional) field.querySelector("legend").append(optional);
    body.append(el("div", { class: "input-block" },
      grouped ? null : el("label", { for: id }, plainText(block.label), optional),
      field,
      el("div", { id: `${id}-hint`, class: "hint", text: plainText(block.hint) }),
      el("div", { id: `${id}-error`, class: "error", role: "alert" })));
  }
  $("modal").dataset.view = view.id;
  backdrop.hidden = false;
  const first = body.querySelector("textarea, input, select");
  (first || $("modal-close")).focus();
}

async function submitModal(event) {
  event.preventDefault();
  const viewId = $("modal").dataset.view;
  const values = {};
  const fields = [...$("modal-body").querySelectorAll("[data-block]")];
  for (const node of fields) {
    values[node.dataset.block] = { ...(values[node.dataset.block] || {}), [node.dataset.action]: inputValue(node) };
    $(`${node.id}-error`).textContent = "";
    node.removeAttribute("aria-invalid");
  }
  // Slack's client asks for a required choice before sending (text fields: the browser).
  const problem = (node) => {
    if (node.getAttribute("aria-required") === "true" && inputValue(node).length === 0) return t("required");
    if (node.required && !String(node.value || "").trim()) return t("required");
    if (node.checkValidity && !node.checkValidity()) {
      const range = [node.min, node.max].some(Boolean) ? ` (${node.min || "…"}–${node.max || "…"})` : "";
      return t("invalid") + range;
    }
    return "";
  };
  const missing = fields.find((node) => problem(node));
  if (missing) {
    $(`${missing.id}-error`).textContent = problem(missing);
    missing.setAttribute("aria-invalid", "true");
    (missing.querySelector("input") || missing).focus();
    return;
  }
  const submit = $("modal-submit");
  submit.disabled = true;
  try {
    const answer = await deliver(await api("/sandbox/api/slack/request", { type: "view_submission", user: ui.slackUser, view_id: viewId, values }));
    const parsed = answer ? JSON.parse(answer) : {};
    if (parsed.response_action === "errors") {
      let first = null;
      for (const [block, message] of Object.entries(parsed.errors || {})) {
        const input = $("modal-body").querySelector(`[data-block="${block}"]`);
        if (input) {
          $(`${input.id}-error`).textContent = message;
          input.setAttribute("aria-invalid", "true");
          first = first || input;
        }
      }
      if (first) (first.querySelector("input") || first).focus();
      return;
    }
    await api("/sandbox/api/slack/close", { user: ui.slackUser, view_id: viewId });
  } catch (err) { say(String(err.message || err), true); } finally { submit.disabled = false; }
}

async function slackCommand(event) {
  event.preventDefault();
  const input = $("slack-text");
  const text = input.value.trim();
  if (!text.startsWith("/")) { say(t("commandOnly"), true); return; }
  const [command, ...rest] = text.split(/\s+/);
  try {
    const answer = await deliver(await api("/sandbox/api/slack/request", { type: "command", user: ui.slackUser, channel: ui.channel, command, text: rest.join(" ") }));
    input.value = "";
    let parsed = {};
    try { parsed = answer ? JSON.parse(answer) : {}; } catch (err) { parsed = { text: answer }; }
    if (parsed.text || parsed.blocks) await api("/sandbox/api/slack/answer", { user: ui.slackUser, channel: ui.channel, command: text, answer: parsed });
  } catch (err) { say(String(err.message || err), true); }
}

// ------------------------------------------------------------------------------- wiring

function cardCount() {
  if (!state) return 0;
  const messages = state.slack.messages[state.coordinator_channel] || [];
  return messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts).length;
}

// Resolves once check() holds for a state the poll brought (or rejects after ms).
function until(check, ms) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    (function look() {
      if (check()) resolve();
      else if (Date.now() - started > ms) reject(new Error("timeout"));
      else waiters.push(look);
    })();
  });
}

// What moving the programme time sent on the way.
function doneText(done) {
  const parts = [];
  if (done.sent) parts.push(t("doneSent").replace("{n}", done.sent));
  if (done.skipped) parts.push(t("doneSkipped").replace("{n}", done.skipped));
  if (done.checkins) parts.push(t("doneCheckins").replace("{n}", done.checkins));
  return parts.length ? parts.join(ui.lang === "ja" ? "、" : ", ") + (ui.lang === "ja" ? "。" : ".") : t("nothingDue");
}

function wire() {
  $("ui-lang").addEventListener("change", (e) => { ui.lang = e.target.value; localStorage.setItem("sandbox.lang", ui.lang); applyLanguage(); });
  $("persona").addEventListener("change", (e) => { ui.persona = e.target.value; localStorage.setItem("sandbox.persona", ui.persona); lineKey = ""; render(); });
  $("slack-user").addEventListener("change", (e) => { ui.slackUser = e.target.value; localStorage.setItem("sandbox.slackUser", ui.slackUser); slackKey = modalKey = ""; if (ui.channel === HOME) openHome(); else render(); });
  $("follow").addEventListener("click", () => lineSend({ type: "follow" }));
  $("rich-menu-bar").addEventListener("click", () => {
    const areas = $("rich-menu-areas");
    areas.hidden = !areas.hidden;
    $("rich-menu-bar").setAttribute("aria-expanded", String(!areas.hidden));
    renderRichMenu();
  });
  $("line-compose").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("line-text");
    if (!input.value.trim()) return;
    lineSend({ type: "message", text: input.value });
    input.value = "";
  });
  $("persona-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      const made = await api("/sandbox/api/line/personas", { name: form.get("name"), kind: form.get("kind"), language: form.get("language") });
      ui.persona = made.user_id;
      localStorage.setItem("sandbox.persona", ui.persona);
      e.target.reset();
      $("new-persona").open = false;
      lineKey = "";
      $("follow").focus();
    } catch (err) { say(String(err.message || err), true); }
  });
  $("demo-load").addEventListener("click", async () => {
    $("demo-load").disabled = true;
    say(t("demoLoading"));
    try {
      const result = await api("/sandbox/api/demo");
      // Said only once the coordinators' cards are here to see.
      await until(() => cardCount() >= result.projects, 60000);
      say(result.already_loaded ? t("demoThere") : t("demoLoaded"));
    } catch (err) { say(String(err.message || err), true); }
    $("demo-load").disabled = false;
  });
  for (const [id, hours] of [["ff-day", 24], ["ff-week", 24 * 7]]) {
    $(id).addEventListener("click", async () => {
      $(id).disabled = true;
      say(t("moving"));
      try {
        const result = await api("/sandbox/api/clock", { hours });
        say(`${t("moved").replace("{now}", result.now)} ${doneText(result.done || {})}`);
      } catch (err) { say(String(err.message || err), true); }
      $(id).disabled = false;
    });
  }
  $("slack-compose").addEventListener("submit", slackCommand);
  $("modal").addEventListener("submit", submitModal);
  // An error under a field goes once the field is changed.
  $("modal-body").addEventListener("input", (e) => {
    const field = e.target.closest("[data-block]");
    if (!field || field.getAttribute("aria-invalid") !== "true") return;
    field.removeAttribute("aria-invalid");
    $(`${field.id}-error`).textContent = "";
  });
  $("modal-close").addEventListener("click", () => api("/sandbox/api/slack/close", { user: ui.slackUser, view_id: $("modal").dataset.view }));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("modal-backdrop").hidden) $("modal-close").click(); });
}

wire();
applyLanguage();
poll();
