// The status page at `/`: one self-contained HTML document (inline CSS, inline script, an SVG chart drawn by the
// script), because a plant network has no internet.
import { SCRIPT } from './page-script.js';
import { STYLE } from './page-style.js';

export const STATUS_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-gateway status</title>
<link rel="icon" id="favicon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>edge-gateway</h1><span class="site" id="site"></span><span id="ready"></span>
  <span class="meta" id="meta">loading…</span>
</header>
<main id="main">
  <div id="banner"></div>
  <div class="grid">
    <section class="card">
      <h2>Journal</h2>
      <div><span class="big" id="journal-records" data-field="journal-records">–</span><span class="unit">records waiting for Kafka</span></div>
      <dl class="kv" id="journal-kv"></dl>
    </section>
    <section class="card">
      <h2>Uplink · Kafka <span id="uplink-state"></span></h2>
      <div class="big" id="uplink-rate">–</div>
      <dl class="kv" id="uplink-kv"></dl>
    </section>
    <section class="card">
      <h2>Sparkplug B session <span id="sparkplug-state"></span></h2>
      <dl class="kv" id="sparkplug-kv"></dl>
    </section>
  </div>
  <section class="card">
    <h2 id="chart-title">Last hour</h2>
    <div class="legend">
      <span><i style="background:var(--backlog)"></i>backlog, records (left axis)</span>
      <span><i style="background:var(--capture)"></i>captured, records/s (right axis)</span>
      <span><i style="background:var(--forward)"></i>forwarded to Kafka, records/s (right axis)</span>
    </div>
    <div id="chart"></div>
  </section>
  <h2 class="section">Devices <span id="device-count"></span></h2>
  <div class="grid devices" id="devices"></div>
  <footer>
    <a href="api/status">/api/status</a><a href="api/history">/api/history</a><a href="metrics">/metrics</a><a href="healthz">/healthz</a><a href="readyz">/readyz</a>
  </footer>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
