// The status page's stylesheet, inlined into the page (no external files on a plant network).

export const STYLE = String.raw`
:root { --ok:#15803d; --bad:#c62828; --warn:#b45309; --off:#6b7280; --bg:#eef1f4; --card:#fff; --ink:#111827;
  --muted:#5b6472; --line:#e3e7ec; --backlog:#2563eb; --capture:#d97706; --forward:#15803d; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
header { background: #1f2937; color: #f9fafb; padding: 10px 24px; display: flex; align-items: center; gap: 14px; flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; letter-spacing: .01em; }
header .site { font-size: 17px; color: #d1d5db; }
header .meta { margin-left: auto; font-size: 12.5px; color: #cbd5e1; }
main { padding: 16px 24px 24px; max-width: 1440px; margin: 0 auto; }
main.stale { opacity: .55; }
.banner { border-radius: 8px; padding: 10px 14px; margin-bottom: 14px; font-weight: 500; }
.banner.bad { background: #fdecea; border: 1px solid #f5c2c0; color: #8e1c1c; }
.banner.warn { background: #fff4e0; border: 1px solid #f6d49a; color: #7a4300; }
.banner ul { margin: 4px 0 0; padding-left: 20px; font-weight: 400; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 14px; margin-bottom: 14px; }
.devices { grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.card.down { border-left: 4px solid var(--bad); }
.card h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 8px;
  display: flex; justify-content: space-between; align-items: center; gap: 8px; }
h2.section { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 18px 0 8px; }
.big { font-size: 30px; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.15; }
.unit { color: var(--muted); font-size: 13px; font-weight: 400; margin-left: 6px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 10px 0 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 999px; font-size: 11.5px; font-weight: 700; color: #fff;
  text-transform: uppercase; letter-spacing: .04em; white-space: nowrap; }
.t-ok { background: var(--ok); } .t-bad { background: var(--bad); } .t-warn { background: var(--warn); } .t-off { background: var(--off); }
.err { color: var(--bad); }
.muted { color: var(--muted); }
.device-head { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; }
.device-head .name { font-size: 17px; font-weight: 650; }
.device-head .badge { align-self: center; }
.device-stats { color: var(--muted); font-size: 12.5px; margin: 2px 0 8px; }
.device-error { color: var(--bad); font-size: 12.5px; margin: -4px 0 8px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: baseline; }
th { font-weight: 600; color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: .04em; }
tr:last-child td { border-bottom: 0; }
td.value { text-align: right; font: 600 14px ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
td.q-bad { color: var(--bad); } td.q-stale { color: var(--off); font-style: italic; }
td.age { color: var(--muted); font-size: 12.5px; white-space: nowrap; }
.legend { display: flex; gap: 18px; font-size: 12.5px; color: var(--muted); margin-bottom: 4px; flex-wrap: wrap; }
.legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 6px; border-radius: 2px; }
#chart svg { display: block; }
#chart text { font-size: 11px; fill: var(--muted); font-family: inherit; }
footer { margin-top: 18px; font-size: 12px; color: var(--muted); }
footer a { color: inherit; margin-right: 12px; }
`;
