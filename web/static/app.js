// anomstream web view: each page calls one init function; data comes from /api/v1 and the
// server-sent events at /api/v1/events. Charts are uPlot (web/static/vendor).
"use strict";

const anomstream = (() => {
  // A bearer token given once as ?token=... is kept for the tab's session.
  const given = new URLSearchParams(location.search).get("token");
  if (given) sessionStorage.setItem("anomstream-token", given);
  const token = sessionStorage.getItem("anomstream-token");

  async function api(path) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(`/api/v1${path}`, { headers });
    if (!response.ok) {
      let message = response.statusText;
      try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
      throw new Error(`${response.status}: ${message}`);
    }
    return response.json();
  }

  function events(params, handlers) {
    const query = new URLSearchParams(params);
    if (token) query.set("access_token", token);
    const source = new EventSource(`/api/v1/events?${query}`);
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (e) => handler(JSON.parse(e.data)));
    }
    source.onopen = () => status("live", "ok");
    source.onerror = () => status("reconnecting", "warn");
    return source;
  }

  function status(text, kind) {
    const el = document.getElementById("status");
    if (el) el.innerHTML = `<span class="pill ${kind}">${esc(text)}</span>`;
  }

  function esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function num(value, digits = 3) {
    if (value === null || value === undefined) return "–";
    const abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(2);
    return value.toPrecision(digits).replace(/\.?0+$/, "");
  }

  function when(iso) {
    if (!iso) return "–";
    return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function entityLink(dataset, entity, seq) {
    const query = new URLSearchParams({ dataset, entity });
    if (seq !== undefined && seq !== null) query.set("seq", seq);
    return `/entity?${query}`;
  }

  function channels(list) {
    return (list || []).map((c) => `${esc(c.channel)} <span class="muted">${num(c.contribution, 2)}</span>`)
      .join(", ");
  }

  // A tiny inline chart of score / threshold (1 = the threshold), drawn on a canvas.
  function sparkline(values, width = 140, height = 28) {
    const canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height; canvas.className = "spark";
    const g = canvas.getContext("2d");
    if (!values.length) return canvas;
    const top = Math.max(2, ...values.map((v) => Math.min(v, 20)));
    const y = (v) => height - 2 - (Math.min(v, 20) / top) * (height - 4);
    g.strokeStyle = "#d0d5dd"; g.setLineDash([3, 3]);
    g.beginPath(); g.moveTo(0, y(1)); g.lineTo(width, y(1)); g.stroke(); g.setLineDash([]);
    g.strokeStyle = "#1f4e79"; g.beginPath();
    values.forEach((v, i) => {
      const x = (i / Math.max(values.length - 1, 1)) * (width - 2) + 1;
      if (i === 0) g.moveTo(x, y(v)); else g.lineTo(x, y(v));
    });
    g.stroke();
    values.forEach((v, i) => {
      if (v <= 1) return;
      const x = (i / Math.max(values.length - 1, 1)) * (width - 2) + 1;
      g.fillStyle = "#c62828"; g.fillRect(x - 1, y(v) - 1, 3, 3);
    });
    return canvas;
  }

  // ---- overview -------------------------------------------------------------------------
  async function overview() {
    const state = { offset: 0, limit: 50 };
    const body = document.getElementById("entities");
    const form = document.getElementById("filters");
    async function refresh() {
      const query = new URLSearchParams({ offset: state.offset, limit: state.limit });
      const q = form.q.value.trim();
      if (q) query.set("q", q);
      if (form.dataset.value) query.set("dataset", form.dataset.value);
      if (form.anomalous.checked) query.set("anomalous", "true");
      try {
        const page = await api(`/entities?${query}`);
        status("live", "ok");
        document.getElementById("n-entities").textContent = page.entities;
        document.getElementById("n-open").textContent = page.open_alerts;
        document.getElementById("n-anomalous").textContent =
          page.items.filter((e) => e.anomalous_now).length;
        document.getElementById("n-over").textContent = page.entities_over_cap;
        const datasets = new Set([...form.dataset.options].map((o) => o.value));
        for (const item of page.items) {
          if (!datasets.has(item.dataset)) {
            form.dataset.add(new Option(item.dataset, item.dataset)); datasets.add(item.dataset);
          }
        }
        body.innerHTML = "";
        if (!page.items.length) {
          body.innerHTML = `<tr><td colspan="8" class="empty">No entity has been scored yet
            (or none matches). Scores appear here as the worker publishes them.</td></tr>`;
        }
        for (const e of page.items) {
          const row = document.createElement("tr");
          row.dataset.entity = e.entity;
          row.innerHTML = `
            <td>${esc(e.dataset)}</td>
            <td><a href="${entityLink(e.dataset, e.entity)}">${esc(e.entity)}</a></td>
            <td>${e.anomalous_now ? '<span class="pill bad">anomalous</span>' : '<span class="pill ok">normal</span>'}</td>
            <td class="num">${num(e.score)}</td><td class="num">${num(e.threshold)}</td>
            <td class="spark-cell"></td>
            <td class="num">${e.open_alerts ? `<span class="pill bad">${e.open_alerts}</span>` : "0"}</td>
            <td class="muted">${esc(e.detector)} ${esc(e.model_version)}</td>`;
          row.querySelector(".spark-cell").appendChild(sparkline(e.sparkline));
          body.appendChild(row);
        }
        document.getElementById("page").textContent =
          `${page.total ? state.offset + 1 : 0}–${state.offset + page.items.length} of ${page.total}`;
        document.getElementById("prev").disabled = state.offset === 0;
        document.getElementById("next").disabled = state.offset + page.items.length >= page.total;
      } catch (error) {
        status(error.message, "bad");
      }
    }
    form.addEventListener("input", () => { state.offset = 0; refresh(); });
    document.getElementById("prev").onclick = () => { state.offset = Math.max(0, state.offset - state.limit); refresh(); };
    document.getElementById("next").onclick = () => { state.offset += state.limit; refresh(); };
    await refresh();
    setInterval(refresh, 2000);
  }

  // ---- one entity -----------------------------------------------------------------------
  async function entity() {
    const params = new URLSearchParams(location.search);
    const dataset = params.get("dataset"), name = params.get("entity");
    const focus = params.has("seq") ? Number(params.get("seq")) : null;
    document.getElementById("title").textContent = `${dataset} / ${name}`;
    const chartEl = document.getElementById("chart");
    const channelEl = document.getElementById("channels");
    let points = { seq: [], score: [], threshold: [], anomaly: [], label: [] };
    let alerts = [];
    const channelSeries = {};
    const keep = 5000;

    const spans = (u) => {
      // Alert spans shaded; a still-open alert runs to the newest point.
      const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save(); ctx.fillStyle = "rgba(123, 31, 162, 0.13)";
      const last = points.seq[points.seq.length - 1];
      for (const a of alerts) {
        const end = a.end_seq ?? last;
        if (end === undefined) continue;
        const x0 = u.valToPos(a.start_seq, "x", true), x1 = u.valToPos(end, "x", true);
        ctx.fillRect(x0, top, Math.max(x1 - x0, 2), h);
      }
      if (focus !== null) {
        const x = u.valToPos(focus, "x", true);
        ctx.fillStyle = "rgba(255, 176, 0, 0.8)"; ctx.fillRect(x - 1, top, 2, h);
      }
      ctx.restore();
    };
    const width = () => Math.max(chartEl.clientWidth - 16, 300);
    const plot = new uPlot({
      width: width(), height: 320, title: "score and threshold",
      // asinh: linear near zero, logarithmic far from it, so a spike hundreds of times the
      // threshold leaves the everyday scores visible.
      scales: { x: { time: false }, y: { distr: 4, asinh: 1 } },
      axes: [{ label: "seq" }, { label: "score (asinh scale)", size: 64 }],
      series: [
        { label: "seq" },
        { label: "score", stroke: "#1f4e79", width: 1.25 },
        { label: "threshold", stroke: "#ffb000", dash: [6, 4], width: 1.5 },
        { label: "anomalous", stroke: "transparent", points: { show: true, size: 5, stroke: "#c62828", fill: "#c62828" } },
        { label: "labelled", stroke: "transparent", points: { show: true, size: 7, stroke: "#7b1fa2", fill: "transparent", width: 1.5 } },
      ],
      hooks: { drawClear: [spans] },
    }, [[], [], [], [], []], chartEl);

    const channelPlot = new uPlot({
      width: width(), height: 200, title: "top channels of the anomalous scores (contribution)",
      scales: { x: { time: false }, y: { distr: 4, asinh: 1 } },
      axes: [{ label: "seq" }, { size: 64 }],
      series: [{ label: "seq" }],
    }, [[]], channelEl);

    function draw() {
      const n = points.seq.length;
      const over = points.anomaly.map((a, i) => (a ? points.score[i] : null));
      const labelled = points.label.map((l, i) => (l === 1 ? points.score[i] : null));
      plot.setData([points.seq, points.score, points.threshold, over, labelled]);
      chartEl.dataset.points = n;
      chartEl.dataset.lastSeq = n ? points.seq[n - 1] : -1;
      if (focus !== null && n) {
        plot.setScale("x", { min: Math.max(points.seq[0], focus - 300), max: Math.min(points.seq[n - 1], focus + 300) });
      }
      drawChannels();
      if (n) channelPlot.setScale("x", { min: points.seq[0], max: points.seq[n - 1] });
      const last = n ? n - 1 : null;
      document.getElementById("score").textContent = last === null ? "–" : num(points.score[last]);
      document.getElementById("threshold").textContent = last === null ? "–" : num(points.threshold[last]);
      document.getElementById("now").innerHTML = last === null ? "–" :
        points.anomaly[last] ? '<span class="pill bad">anomalous</span>' : '<span class="pill ok">normal</span>';
      document.getElementById("npoints").textContent = n;
    }

    function drawChannels() {
      // Over the same seqs as the score chart: the channels named most there.
      const from = points.seq.length ? points.seq[0] : -Infinity;
      const count = (c) => channelSeries[c].seq.filter((q) => q >= from).length;
      const names = Object.keys(channelSeries).filter((c) => count(c) > 0)
        .sort((a, b) => count(b) - count(a)).slice(0, 5);
      const seqs = [...new Set(names.flatMap((c) => channelSeries[c].seq.filter((q) => q >= from)))]
        .sort((a, b) => a - b);
      const columns = names.map((c) => {
        const at = new Map(channelSeries[c].seq.map((q, i) => [q, channelSeries[c].value[i]]));
        return seqs.map((q) => at.get(q) ?? null);
      });
      const colors = ["#c62828", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a"];
      while (channelPlot.series.length > 1) channelPlot.delSeries(1);
      names.forEach((c, i) => channelPlot.addSeries({
        // Dots only: a line would join anomalies hundreds of readings apart.
        label: c, stroke: colors[i], paths: () => null, points: { show: true, size: 6, fill: colors[i] },
      }, i + 1));
      channelPlot.setData([seqs, ...columns]);
    }

    function append(p) {
      for (let i = 0; i < p.seq.length; i++) {
        if (points.seq.length && p.seq[i] <= points.seq[points.seq.length - 1]) continue;
        for (const key of ["seq", "score", "threshold", "anomaly", "label"]) points[key].push(p[key][i]);
        const top = p.top && p.top[i];
        if (top) {
          for (const [c, v] of Object.entries(top)) {
            channelSeries[c] = channelSeries[c] || { seq: [], value: [] };
            channelSeries[c].seq.push(p.seq[i]); channelSeries[c].value.push(v);
          }
        }
      }
      const extra = points.seq.length - keep;
      if (extra > 0) for (const key of Object.keys(points)) points[key].splice(0, extra);
    }

    async function load() {
      try {
        const path = name.split("/").map(encodeURIComponent).join("/");
        const found = await api(`/entities/${encodeURIComponent(dataset)}/${path}/scores`);
        points = found.points;
        Object.assign(channelSeries, found.channels);
        document.getElementById("model").textContent = `${found.detector} ${found.model_version}`;
      } catch (error) {
        document.getElementById("model").textContent = error.message;
      }
      alerts = await api(`/alerts?${new URLSearchParams({ dataset, entity: name, limit: 500 })}`);
      renderAlerts();
      draw();
    }

    function renderAlerts() {
      const body = document.getElementById("alerts");
      body.innerHTML = alerts.length ? "" : '<tr><td colspan="5" class="empty">No alert.</td></tr>';
      for (const a of alerts) {
        const row = document.createElement("tr");
        row.innerHTML = `<td>${a.state === "resolved" ? '<span class="pill ok">resolved</span>' : '<span class="pill bad">open</span>'}</td>
          <td class="num">${a.start_seq}–${a.end_seq ?? ""}</td><td class="num">${num(a.peak_score)}</td>
          <td>${channels(a.top_channels)}</td><td class="muted">${when(a.start_time)}</td>`;
        body.appendChild(row);
      }
    }

    await load();
    events({ dataset, entity: name, kinds: "scores,alert" }, {
      scores: (e) => { append(e.points); draw(); },
      alert: (e) => {
        const i = alerts.findIndex((a) => a.alert_id === e.alert.alert_id);
        if (i >= 0) alerts[i] = e.alert; else alerts.unshift(e.alert);
        renderAlerts(); draw();
      },
      gap: () => load(),
    });
    window.addEventListener("resize", () => {
      plot.setSize({ width: width(), height: 320 }); channelPlot.setSize({ width: width(), height: 200 });
    });
  }

  // ---- alerts ---------------------------------------------------------------------------
  async function alertsPage() {
    let alerts = [];
    const form = document.getElementById("filters");
    function render() {
      const want = form.state.value;
      const shown = alerts.filter((a) => want === "all" || (want === "open") === (a.state !== "resolved"));
      const body = document.getElementById("alerts");
      body.innerHTML = shown.length ? "" : '<tr><td colspan="9" class="empty">No alert yet.</td></tr>';
      for (const a of shown) {
        const duration = a.end_time ? (new Date(a.end_time) - new Date(a.start_time)) / 1000 : null;
        const row = document.createElement("tr");
        row.dataset.alert = a.alert_id;
        row.innerHTML = `
          <td>${a.state === "resolved" ? '<span class="pill ok">resolved</span>' : `<span class="pill bad">${esc(a.state)}</span>`}</td>
          <td>${esc(a.dataset)}</td>
          <td><a href="${entityLink(a.dataset, a.entity, a.start_seq)}">${esc(a.entity)}</a></td>
          <td class="muted">${when(a.start_time)}</td>
          <td class="num">${duration === null ? "open" : `${num(duration, 3)} s`}</td>
          <td class="num">${a.start_seq}–${a.end_seq ?? ""}</td>
          <td class="num">${num(a.peak_score)} <span class="muted">/ ${num(a.threshold)}</span></td>
          <td>${channels(a.top_channels)}</td>
          <td class="muted">${esc(a.resolved_by ?? "")}</td>`;
        body.appendChild(row);
      }
      document.getElementById("count").textContent =
        `${alerts.filter((a) => a.state !== "resolved").length} open, ${alerts.length} in all`;
    }
    async function load() {
      try {
        alerts = await api(`/alerts?limit=1000`);
        status("live", "ok");
      } catch (error) { status(error.message, "bad"); }
      render();
    }
    form.addEventListener("input", render);
    await load();
    events({ kinds: "alert" }, {
      alert: (e) => {
        const i = alerts.findIndex((a) => a.alert_id === e.alert.alert_id);
        if (i >= 0) alerts[i] = e.alert; else alerts.unshift(e.alert);
        render();
      },
      gap: load,
    });
  }

  // ---- models and worker ----------------------------------------------------------------
  async function modelsPage() {
    async function load() {
      try {
        const [models, worker] = await Promise.all([api("/models"), api("/worker")]);
        status(worker.kafka_connected ? "live" : "Kafka does not answer", worker.kafka_connected ? "ok" : "bad");
        const body = document.getElementById("models");
        body.innerHTML = models.length ? "" : '<tr><td colspan="9" class="empty">No model under the models folder.</td></tr>';
        for (const m of models) {
          const row = document.createElement("tr");
          row.innerHTML = `<td>${esc(m.dataset)}</td>
            <td><a href="${entityLink(m.dataset, m.entity)}">${esc(m.entity)}</a></td>
            <td>${esc(m.detector)}</td><td>${esc(m.version)}</td>
            <td class="num">${m.window}</td><td class="num">${num(m.threshold)} <span class="muted">${esc(m.threshold_kind)}</span></td>
            <td class="num">${m.channels.length}</td>
            <td>${m.adaptive ? "adaptive" : ""}${m.sensor_health ? " · health" : ""}</td>
            <td class="muted">${when(m.trained_at)}</td>`;
          body.appendChild(row);
        }
        const lag = document.getElementById("lag");
        lag.innerHTML = "";
        const topics = worker.lag ? Object.entries(worker.lag.topics) : [];
        document.getElementById("group").textContent = worker.lag ? worker.lag.group : "–";
        if (worker.lag && worker.lag.error) lag.innerHTML = `<tr><td colspan="2">${esc(worker.lag.error)}</td></tr>`;
        for (const [topic, behind] of topics) {
          const row = document.createElement("tr");
          row.innerHTML = `<td>${esc(topic)}</td><td class="num">${behind ?? "–"}</td>`;
          lag.appendChild(row);
        }
        document.getElementById("feed").textContent =
          `${worker.entities} entities shown, ${worker.open_alerts} open alerts${worker.entities_over_cap ? `, ${worker.entities_over_cap} scores of entities over the cap` : ""}`;
      } catch (error) { status(error.message, "bad"); }
    }
    await load();
    setInterval(load, 5000);
  }

  return { overview, entity, alerts: alertsPage, models: modelsPage };
})();
