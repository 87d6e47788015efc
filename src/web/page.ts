import { FLEET_COLUMNS } from "../tui/fleet-table.js";

/** `&`, `<`, `>`, `"` and `'` as HTML entities (for the few values this template holds: the token, column heads). */
export function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page: a static skeleton that paints before any script runs (header, the fleet table's
 * heads, the sections), its script and styles from this server. Nothing from outside is in it:
 * the script fills every field in as text from the event stream. The token reaches the assets
 * in their URLs; the script reads it from the address bar for the stream and the actions.
 */
export function pageHtml(token: string): string {
  const t = encodeURIComponent(token);
  const heads = FLEET_COLUMNS.map((c) => `<th scope="col">${htmlEscape(c.head)}</th>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>opensre agents</title>
<link rel="stylesheet" href="/assets/app.css?token=${t}">
<script defer src="/assets/app.js?token=${t}"></script>
</head>
<body>
<header class="top">
  <h1>opensre agents</h1>
  <div id="totals" class="totals" aria-live="polite">connecting…</div>
  <div id="conn" class="conn">connecting…</div>
</header>
<div id="warnings" class="warnings" hidden></div>
<main>
  <section id="fleet" aria-labelledby="fleet-h">
    <div class="section-head">
      <h2 id="fleet-h">Fleet</h2>
      <input id="filter" type="search" placeholder="filter by name, provider or folder" aria-label="filter agents" autocomplete="off" spellcheck="false">
      <span id="fleet-count" class="dim"></span>
    </div>
    <table id="fleet-table" class="grid">
      <thead><tr>${heads}<th scope="col" class="actions-col"></th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="fleet-foot" class="dim small"></p>
  </section>
  <section id="agent" aria-labelledby="agent-h">
    <div class="section-head">
      <h2 id="agent-h">Agent</h2>
      <span id="agent-name" class="agent-name"></span>
      <div class="ranges" role="group" aria-label="range">
        <button type="button" data-range="hour" aria-pressed="true">live hour</button>
        <button type="button" data-range="day" aria-pressed="false">day</button>
        <button type="button" data-range="week" aria-pressed="false">week</button>
      </div>
    </div>
    <p id="series-note" class="note" hidden></p>
    <div id="charts" class="charts"><p class="dim">select an agent in the table</p></div>
  </section>
  <section id="slos" aria-labelledby="slos-h">
    <h2 id="slos-h">SLOs</h2>
    <div id="slo-list" class="gauges"><p class="dim">no SLOs configured (opensre agents budget)</p></div>
  </section>
  <section id="incidents" aria-labelledby="incidents-h">
    <div class="section-head"><h2 id="incidents-h">Incidents</h2><span id="incident-count" class="dim"></span></div>
    <div id="timeline" class="timeline" aria-label="incidents over the last 24 hours"></div>
    <table id="incident-table" class="grid">
      <thead><tr><th scope="col">id</th><th scope="col">agent</th><th scope="col">pid</th><th scope="col">slo</th><th scope="col">state</th><th scope="col">opened</th><th scope="col">detail</th><th scope="col" class="actions-col"></th></tr></thead>
      <tbody></tbody>
    </table>
    <div id="evidence" class="evidence" hidden></div>
  </section>
  <section id="conflicts" aria-labelledby="conflicts-h">
    <h2 id="conflicts-h">Conflicts</h2>
    <table id="conflict-table" class="grid">
      <thead><tr><th scope="col">path</th><th scope="col">agents</th><th scope="col">writes</th><th scope="col">first seen</th><th scope="col">last seen</th></tr></thead>
      <tbody></tbody>
    </table>
    <ul id="shared-worktrees" class="plain"></ul>
  </section>
  <section id="bus" aria-labelledby="bus-h">
    <div class="section-head"><h2 id="bus-h">Bus</h2><span id="bus-state" class="dim"></span></div>
    <ol id="bus-tail" class="bus-tail"></ol>
  </section>
</main>
<dialog id="confirm">
  <p id="confirm-text"></p>
  <div class="dialog-buttons"><button type="button" id="confirm-no" autofocus>Cancel</button><button type="button" id="confirm-yes" class="danger">Kill</button></div>
</dialog>
<noscript><p>This dashboard needs JavaScript (its own script, served by this tool; nothing is loaded from elsewhere).</p></noscript>
</body>
</html>
`;
}
