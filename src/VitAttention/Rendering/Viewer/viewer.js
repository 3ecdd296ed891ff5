// The attention viewer. Plain JavaScript, no libraries; everything it shows comes from the data in this file.
// Tokens: prefix tokens (CLS, distillation, registers) first, then the patches row-major.
// Attention A[layer][head][query][key]; a row (query q) is what q attends to, a column (key k) is who attends to k.
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const api = { ready: false, error: null };
  window.vitViewer = api;

  const meta = JSON.parse($('vit-meta').textContent);
  const L = meta.layers, H = meta.heads, T = meta.tokens;
  const GH = meta.gridHeight, GW = meta.gridWidth, N = GH * GW;
  const PREFIX = meta.prefix, P = PREFIX.length;
  const FUSIONS = ['mean', 'max', 'min'];
  const HEAD_KEYS = [];
  for (let h = 0; h < H; h++) HEAD_KEYS.push(h);
  HEAD_KEYS.push(...FUSIONS);
  const ATTENTION = 'attention', ROLLOUT = 'rollout from token';
  const libraryMethods = [];
  for (const m of meta.maps) if (!libraryMethods.includes(m.method)) libraryMethods.push(m.method);
  const METHODS = [ATTENTION, ROLLOUT, ...libraryMethods];
  const COLORMAPS = Object.keys(meta.colormaps);
  const tables = {};
  for (const name of COLORMAPS) tables[name] = base64Bytes(meta.colormaps[name]);
  const EPSILON = 1e-12;  // as the library's OverlayOptions.Epsilon
  const UNSEEN = 0.5;     // dimming outside the seen region, as OverlayOptions.UnseenDimming

  let A = null;           // Float32Array [layer, head, query, key]
  const fusedCache = new Map();   // "l:key" -> Float32Array [query, key]
  const inverseCache = new Map(); // "l:key" -> Float64Array [query]: 1 / (0.5 * rowsum + 0.5)

  const defaultToken = P > 0 ? 0 : P + ((GH >> 1) * GW) + (GW >> 1);
  const state = {
    method: ATTENTION, direction: 'row', layer: L - 1, head: 'mean',
    token: defaultToken, hover: null, cls: null,
    colormap: meta.defaults.colormap, alpha: meta.defaults.alpha, smooth: true,
  };
  const shown = { values: null, map: null, min: 0, max: 0, renders: 0, ms: 0, gridMs: 0, thumbs: new Map() };
  let geometry = null; // main canvas layout
  let gridLayout = null;
  let pending = false;
  let gridPending = false;

  // ---------- decoding ----------

  function base64Bytes(text) {
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  async function decodeAttention() {
    if (typeof DecompressionStream === 'undefined') {
      throw new Error('This browser lacks DecompressionStream (gzip); open the page in a current Chrome, Edge, Firefox (113+) or Safari (16.4+).');
    }
    const text = $('vit-attention').textContent.trim();
    let packed;
    try {
      // The browser's own base64 decoder (a data: URL) is many times faster than atob and a loop.
      packed = await (await fetch('data:application/octet-stream;base64,' + text)).blob();
    } catch (e) {
      packed = new Blob([base64Bytes(text)]);
    }
    const stream = packed.stream().pipeThrough(new DecompressionStream('gzip'));
    const raw = new Uint8Array(await new Response(stream).arrayBuffer());
    const rows = L * H * T;
    if (raw.length !== rows * 4 + rows * T) {
      throw new Error(`The attention holds ${raw.length} bytes; ${L}x${H}x${T} tokens need ${rows * 4 + rows * T}. The page is damaged.`);
    }
    const view = new DataView(raw.buffer, raw.byteOffset, rows * 4);
    const out = new Float32Array(rows * T);
    const levels = meta.attention.levels;
    for (let r = 0, o = rows * 4; r < rows; r++) {
      const scale = view.getFloat32(r * 4, true);
      const base = r * T;
      for (let j = 0; j < T; j++) out[base + j] = raw[o + base + j] * scale / levels; // as AttentionQuantizer.Decode
    }
    return out;
  }

  // ---------- numbers ----------

  // The matrix [query, key] of one layer for a head key: a head index, or a fusion over heads.
  function matrix(l, key) {
    if (typeof key === 'number') return A.subarray((l * H + key) * T * T, (l * H + key + 1) * T * T);
    const id = l + ':' + key;
    let m = fusedCache.get(id);
    if (m) return m;
    m = new Float32Array(T * T);
    const base = l * H * T * T, size = T * T;
    for (let i = 0; i < size; i++) {
      let acc = A[base + i];
      for (let h = 1; h < H; h++) {
        const v = A[base + h * size + i];
        if (key === 'mean') acc += v; else if (key === 'max') { if (v > acc) acc = v; } else if (v < acc) acc = v;
      }
      m[i] = key === 'mean' ? acc / H : acc;
    }
    fusedCache.set(id, m);
    return m;
  }

  // Row normalisers of Ã = rownorm(0.5 F + 0.5 I): 1 / (0.5 · Σ_j F[i, j] + 0.5).
  function inverses(l, key) {
    const id = l + ':' + key;
    let inv = inverseCache.get(id);
    if (inv) return inv;
    const m = matrix(l, key);
    inv = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      let s = 0;
      for (let j = 0; j < T; j++) s += m[i * T + j];
      inv[i] = 1 / (0.5 * s + 0.5);
    }
    inverseCache.set(id, inv);
    return inv;
  }

  // One layer's attention of token q: its row (what q attends to) or its column (who attends to q).
  function attentionVector(l, key, q, direction) {
    const m = matrix(l, key);
    const out = new Float64Array(T);
    if (direction === 'row') for (let j = 0; j < T; j++) out[j] = m[q * T + j];
    else for (let i = 0; i < T; i++) out[i] = m[i * T + q];
    return out;
  }

  // r ← r · Ã_l: r'_j = 0.5 Σ_i r_i inv_i F[i, j] + 0.5 r_j inv_j.
  function rowStep(r, l, key) {
    const m = matrix(l, key), inv = inverses(l, key);
    const out = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      const w = r[i] * inv[i];
      if (w === 0) continue;
      const f = 0.5 * w, base = i * T;
      for (let j = 0; j < T; j++) out[j] += f * m[base + j];
      out[i] += 0.5 * w;
    }
    return out;
  }

  // c ← Ã_l · c: c'_i = inv_i (0.5 Σ_j F[i, j] c_j + 0.5 c_i).
  function columnStep(c, l, key) {
    const m = matrix(l, key), inv = inverses(l, key);
    const out = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      let s = 0;
      const base = i * T;
      for (let j = 0; j < T; j++) s += m[base + j] * c[j];
      out[i] = inv[i] * (0.5 * s + 0.5 * c[i]);
    }
    return out;
  }

  // Rollout R = Ã_end ⋯ Ã_1 (Abnar & Zuidema): row q of R (what q gathers from each input token), or column q
  // (how much of input token q reaches each token after layer end).
  function rolloutVector(end, key, q, direction) {
    let v = new Float64Array(T);
    v[q] = 1;
    if (direction === 'row') for (let l = end; l >= 0; l--) v = rowStep(v, l, key);
    else for (let l = 0; l <= end; l++) v = columnStep(v, l, key);
    return v;
  }

  // Every layer's vector for one head key: [layer] -> Float64Array(T).
  function vectorsForAllLayers(key, q, method, direction) {
    const out = [];
    if (method === ATTENTION) {
      for (let l = 0; l < L; l++) out.push(attentionVector(l, key, q, direction));
    } else if (direction === 'column') {
      let v = new Float64Array(T);
      v[q] = 1;
      for (let l = 0; l < L; l++) { v = columnStep(v, l, key); out.push(v); }
    } else {
      for (let l = 0; l < L; l++) out.push(rolloutVector(l, key, q, 'row'));
    }
    return out;
  }

  function libraryMaps(method) { return meta.maps.filter((m) => m.method === method); }

  function libraryMap(method, cls) {
    const maps = libraryMaps(method);
    return maps.find((m) => m.class === cls) || maps.find((m) => m.class === null) || maps[0];
  }

  function currentToken() { return state.hover !== null ? state.hover : state.token; }

  function isLibrary(method) { return method !== ATTENTION && method !== ROLLOUT; }

  // ---------- drawing ----------

  function minMax(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }

  function layoutMain() {
    const img = $('vit-photo');
    const box = 560;
    const s = Math.min(box / meta.photo.width, box / meta.photo.height);
    const cssW = Math.max(1, Math.round(meta.photo.width * s)), cssH = Math.max(1, Math.round(meta.photo.height * s));
    const dpr = Math.min(2, Math.max(1, window.devicePixelRatio || 1));
    const canvas = $('main');
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    canvas.style.width = cssW + 'px';
    canvas.style.height = cssH + 'px';
    const w = canvas.width, h = canvas.height;
    const sx = w / meta.photo.width, sy = h / meta.photo.height;
    const [rx, ry, rw, rh] = meta.photo.seen;
    const g = { w, h, offX: rx * sx, offY: ry * sy, extX: rw * sx, extY: rh * sy };
    // Pixels whose centres lie in the seen region, as the library's Overlay.BlendInto.
    g.x0 = clamp(Math.ceil(g.offX - 0.5), 0, w);
    g.x1 = clamp(Math.ceil(g.offX + g.extX - 0.5), g.x0, w);
    g.y0 = clamp(Math.ceil(g.offY - 0.5), 0, h);
    g.y1 = clamp(Math.ceil(g.offY + g.extY - 0.5), g.y0, h);
    const ctx = canvas.getContext('2d');
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(img, 0, 0, w, h);
    g.photo = ctx.getImageData(0, 0, w, h);
    g.frame = ctx.createImageData(w, h);
    geometry = g;
  }

  function clamp(v, lo, hi) { return v < lo ? lo : v > hi ? hi : v; }

  // Taps along one axis for the seen region's pixels, sampling at pixel centres, edges clamped (as AxisTaps).
  function taps(gridSize, first, count, offset, extent, smooth) {
    const i0 = new Int32Array(count), i1 = new Int32Array(count), f = new Float32Array(count);
    const scale = gridSize / extent;
    for (let i = 0; i < count; i++) {
      const u = (first + i + 0.5 - offset) * scale - 0.5;
      if (smooth) {
        const fl = Math.floor(u);
        i0[i] = clamp(fl, 0, gridSize - 1);
        i1[i] = clamp(fl + 1, 0, gridSize - 1);
        f[i] = u - fl;
      } else {
        i0[i] = i1[i] = clamp(Math.floor(u + 0.5), 0, gridSize - 1);
      }
    }
    return { i0, i1, f };
  }

  function drawMain(map, marked) {
    const g = geometry;
    const canvas = $('main'), ctx = canvas.getContext('2d');
    const src = g.photo.data, dst = g.frame.data;
    for (let y = 0; y < g.h; y++) {
      const inside = y >= g.y0 && y < g.y1;
      for (let x = 0; x < g.w; x++) {
        if (inside && x >= g.x0 && x < g.x1) continue;
        const o = (y * g.w + x) * 4;
        dst[o] = src[o] * UNSEEN + 0.5; dst[o + 1] = src[o + 1] * UNSEEN + 0.5; dst[o + 2] = src[o + 2] * UNSEEN + 0.5; dst[o + 3] = 255;
      }
    }
    const [lo, hi] = minMax(map);
    const range = Math.max(hi - lo, EPSILON);
    const scaled = new Float32Array(N);
    for (let i = 0; i < N; i++) scaled[i] = (map[i] - lo) / range;
    const cw = g.x1 - g.x0, ch = g.y1 - g.y0;
    const xt = taps(GW, g.x0, cw, g.offX, g.extX, state.smooth);
    const yt = taps(GH, g.y0, ch, g.offY, g.extY, state.smooth);
    const table = tables[state.colormap];
    const a = state.alpha, keep = 1 - a;
    const heat = new Float32Array(768);
    for (let i = 0; i < 768; i++) heat[i] = a * table[i] + 0.5;
    for (let y = 0; y < ch; y++) {
      const r0 = yt.i0[y] * GW, r1 = yt.i1[y] * GW, fy = yt.f[y];
      for (let x = 0; x < cw; x++) {
        const c0 = xt.i0[x], c1 = xt.i1[x], fx = xt.f[x];
        const top = scaled[r0 + c0] * (1 - fx) + scaled[r0 + c1] * fx;
        const bottom = scaled[r1 + c0] * (1 - fx) + scaled[r1 + c1] * fx;
        const t = top * (1 - fy) + bottom * fy;
        const c = colorIndex(t) * 3;
        const o = ((g.y0 + y) * g.w + g.x0 + x) * 4;
        dst[o] = keep * src[o] + heat[c]; dst[o + 1] = keep * src[o + 1] + heat[c + 1]; dst[o + 2] = keep * src[o + 2] + heat[c + 2]; dst[o + 3] = 255;
      }
    }
    ctx.putImageData(g.frame, 0, 0);
    for (const [token, style] of marked) outlinePatch(ctx, token, style);
    return [lo, hi];
  }

  // min(⌊256 · clamp(t, 0, 1)⌋, 255), NaN → 0: the library's Colormaps.Index.
  function colorIndex(t) {
    const v = t >= 0 ? (t <= 1 ? t : 1) : 0;
    const i = Math.floor(v * 256);
    return i < 256 ? i : 255;
  }

  function patchRect(token) {
    const g = geometry, p = token - P;
    const row = Math.floor(p / GW), col = p % GW;
    const pw = g.extX / GW, ph = g.extY / GH;
    return { x: g.offX + col * pw, y: g.offY + row * ph, w: pw, h: ph };
  }

  function outlinePatch(ctx, token, style) {
    if (token < P) return;
    const r = patchRect(token);
    ctx.save();
    ctx.lineWidth = Math.max(1, geometry.w / 400);
    if (style === 'pinned') ctx.setLineDash([4, 3]);
    ctx.strokeStyle = 'rgba(0,0,0,0.8)';
    ctx.strokeRect(r.x + ctx.lineWidth, r.y + ctx.lineWidth, r.w - 2 * ctx.lineWidth, r.h - 2 * ctx.lineWidth);
    ctx.strokeStyle = '#fff';
    ctx.strokeRect(r.x, r.y, r.w, r.h);
    ctx.restore();
  }

  function drawColorbar() {
    const canvas = $('colorbar'), ctx = canvas.getContext('2d');
    const img = ctx.createImageData(256, 1), t = tables[state.colormap];
    for (let i = 0; i < 256; i++) { img.data[i * 4] = t[i * 3]; img.data[i * 4 + 1] = t[i * 3 + 1]; img.data[i * 4 + 2] = t[i * 3 + 2]; img.data[i * 4 + 3] = 255; }
    ctx.putImageData(img, 0, 0);
  }

  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toFixed(4);
  }

  function headName(key) { return typeof key === 'number' ? 'head ' + (key + 1) : key; }

  function tokenName(t) {
    if (t < P) return `${PREFIX[t]} (token ${t})`;
    const p = t - P;
    return `patch row ${Math.floor(p / GW) + 1}, col ${(p % GW) + 1} (token ${t})`;
  }

  // ---------- the grid of thumbnails ----------

  function gridCells() {
    const q = currentToken();
    if (isLibrary(state.method)) {
      const maps = libraryMaps(state.method);
      return { rows: [''], cols: maps.map((m) => (m.class === null ? 'class-agnostic' : m.label)),
        cell: (r, c) => Float64Array.from(maps[c].values), select: (r, c) => { state.cls = maps[c].class; },
        selected: (r, c) => maps[c] === libraryMap(state.method, state.cls), title: 'Every class for ' + state.method };
    }
    const vectors = HEAD_KEYS.map((key) => vectorsForAllLayers(key, q, state.method, state.direction));
    const rows = [];
    for (let l = 0; l < L; l++) rows.push('L' + (l + 1));
    const what = state.method === ATTENTION ? 'attention' : 'rollout through layers 1..k';
    return { rows, cols: HEAD_KEYS.map((k) => (typeof k === 'number' ? 'H' + (k + 1) : k)),
      cell: (r, c) => vectors[c][r].subarray(P), select: (r, c) => { state.layer = r; state.head = HEAD_KEYS[c]; },
      selected: (r, c) => r === state.layer && HEAD_KEYS[c] === state.head,
      title: `Every layer and head: ${what}, ${state.direction} of ${tokenName(q)}` };
  }

  function drawGrid() {
    const started = performance.now();
    const cells = gridCells();
    const thumbW = Math.max(24, Math.min(72, Math.round(72 * Math.min(1, GW / GH)))) ;
    const thumbH = Math.max(12, Math.round(thumbW * GH / GW));
    const gap = 4, left = 34, top = 18;
    const canvas = $('grid');
    const w = left + cells.cols.length * (thumbW + gap), h = top + cells.rows.length * (thumbH + gap);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = '#5f6368';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    cells.cols.forEach((name, c) => ctx.fillText(name.length > 10 ? name.slice(0, 9) + '…' : name, left + c * (thumbW + gap) + thumbW / 2, top / 2));
    ctx.textAlign = 'right';
    cells.rows.forEach((name, r) => ctx.fillText(name, left - 6, top + r * (thumbH + gap) + thumbH / 2));
    const small = document.createElement('canvas');
    small.width = GW; small.height = GH;
    const sctx = small.getContext('2d'), img = sctx.createImageData(GW, GH), table = tables[state.colormap];
    ctx.imageSmoothingEnabled = false;
    shown.thumbs = new Map();
    const q = currentToken();
    for (let r = 0; r < cells.rows.length; r++) {
      for (let c = 0; c < cells.cols.length; c++) {
        const values = cells.cell(r, c);
        shown.thumbs.set(r + ':' + c, values);
        const [lo, hi] = minMax(values);
        const range = Math.max(hi - lo, EPSILON);
        for (let i = 0; i < N; i++) {
          const k = colorIndex((values[i] - lo) / range) * 3;
          img.data[i * 4] = table[k]; img.data[i * 4 + 1] = table[k + 1]; img.data[i * 4 + 2] = table[k + 2]; img.data[i * 4 + 3] = 255;
        }
        sctx.putImageData(img, 0, 0);
        const x = left + c * (thumbW + gap), y = top + r * (thumbH + gap);
        ctx.drawImage(small, x, y, thumbW, thumbH);
        if (!isLibrary(state.method) && q >= P) {
          const p = q - P;
          ctx.strokeStyle = '#fff';
          ctx.lineWidth = 1;
          ctx.strokeRect(x + (p % GW) * thumbW / GW + 0.5, y + Math.floor(p / GW) * thumbH / GH + 0.5, thumbW / GW, thumbH / GH);
        }
        if (cells.selected(r, c)) {
          ctx.strokeStyle = '#1a73e8';
          ctx.lineWidth = 3;
          ctx.strokeRect(x - 1.5, y - 1.5, thumbW + 3, thumbH + 3);
        }
      }
    }
    gridLayout = { cells, thumbW, thumbH, gap, left, top };
    $('grid-title').textContent = cells.title;
    shown.gridMs = performance.now() - started;
  }

  function gridCellAt(px, py) {
    const g = gridLayout;
    if (!g) return null;
    const c = Math.floor((px - g.left) / (g.thumbW + g.gap)), r = Math.floor((py - g.top) / (g.thumbH + g.gap));
    if (c < 0 || r < 0 || c >= g.cells.cols.length || r >= g.cells.rows.length) return null;
    return { r, c };
  }

  // ---------- the page ----------

  function compute() {
    const q = currentToken();
    if (isLibrary(state.method)) {
      const m = libraryMap(state.method, state.cls);
      return { values: null, map: Float64Array.from(m.values), description: m.description || '' };
    }
    const values = state.method === ATTENTION
      ? attentionVector(state.layer, state.head, q, state.direction)
      : rolloutVector(state.layer, state.head, q, state.direction);
    const description = state.method === ATTENTION
      ? `Layer ${state.layer + 1}, ${headName(state.head)}: the attention probabilities ${state.direction === 'row' ? 'of the token to every patch' : 'of every patch to the token'}.`
      : `Rollout through layers 1..${state.layer + 1} (0.5·A + 0.5·I, rows normalised, ${typeof state.head === 'number' ? 'head ' + (state.head + 1) + ' alone' : state.head + ' over heads'}), computed here from the embedded attention; ${state.direction === 'row' ? 'row: what the token gathers from each input patch' : 'column: how much of the token reaches each patch'}.`;
    return { values, map: values.subarray(P), description };
  }

  function render() {
    pending = false;
    if (!A) return;
    const started = performance.now();
    const q = currentToken();
    const { values, map, description } = compute();
    const library = isLibrary(state.method);
    const marked = [];
    if (!library) {
      if (state.hover !== null && state.hover !== state.token) marked.push([state.token, 'pinned']);
      marked.push([q, 'current']);
    }
    const [lo, hi] = drawMain(map, marked);
    shown.values = values; shown.map = map; shown.min = lo; shown.max = hi;
    $('legend-min').textContent = fmt(lo);
    $('legend-max').textContent = fmt(hi);
    drawColorbar();
    $('description').textContent = description;
    renderTokens(values, q, library);
    renderStatus(q, library);
    renderControls(library);
    // The grid is the costly part (every layer × head); it follows in a moment so the picture answers the mouse first.
    if (!gridPending) { gridPending = true; setTimeout(() => { if (gridPending) { gridPending = false; drawGrid(); } }, 0); }
    writeHash();
    shown.renders++;
    shown.ms = performance.now() - started;
  }

  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { if (pending) render(); });
  }

  function flush() {
    if (pending) render();
    if (gridPending) { gridPending = false; drawGrid(); }
  }

  function renderTokens(values, q, library) {
    const box = $('tokens');
    box.textContent = '';
    for (let t = 0; t < P; t++) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `${PREFIX[t]} ${library ? '' : fmt(values[t])}`;
      b.title = `${PREFIX[t]}: token ${t}; click to select it`;
      if (t === q && !library) b.className = 'selected';
      b.addEventListener('click', () => { state.token = t; state.hover = null; render(); });
      box.appendChild(b);
    }
  }

  let cursorValue = null;
  function renderStatus(q, library) {
    const where = library ? '' : `${state.hover !== null ? 'Hovered' : 'Selected'}: ${tokenName(q)}. `;
    const under = cursorValue === null ? '' : ` Under the cursor: ${fmt(cursorValue)}.`;
    $('status').textContent = `${where}Patches: min ${fmt(shown.min)}, max ${fmt(shown.max)}.${under}`;
  }

  function renderControls(library) {
    $('method').value = state.method;
    $('layer').value = String(state.layer);
    $('head').value = String(state.head);
    $('layer').disabled = library; $('head').disabled = library;
    for (const id of ['layer-prev', 'layer-next', 'head-prev', 'head-next']) $(id).disabled = library;
    $('direction').classList.toggle('disabled', library);
    for (const input of document.querySelectorAll('input[name=direction]')) { input.checked = input.value === state.direction; input.disabled = library; }
    const classSelect = $('class');
    classSelect.textContent = '';
    const maps = library ? libraryMaps(state.method) : [];
    const specific = maps.filter((m) => m.class !== null);
    if (specific.length === 0) {
      classSelect.appendChild(new Option('– (class-agnostic)', ''));
      classSelect.disabled = true;
    } else {
      for (const m of specific) classSelect.appendChild(new Option(`${m.label} (${m.class})`, String(m.class)));
      classSelect.disabled = false;
      classSelect.value = String(libraryMap(state.method, state.cls).class);
    }
    $('colormap').value = state.colormap;
    $('alpha').value = String(state.alpha);
    $('alpha-out').textContent = state.alpha.toFixed(2);
    $('smooth').checked = state.smooth;
    for (const li of $('predictions').children) li.classList.toggle('selected', Number(li.dataset.index) === state.cls);
  }

  function writeHash() {
    const h = typeof state.head === 'number' ? state.head + 1 : state.head;
    const parts = [`method=${encodeURIComponent(state.method)}`, `layer=${state.layer + 1}`, `head=${h}`, `token=${state.token}`,
      `dir=${state.direction}`, `cmap=${state.colormap}`, `alpha=${state.alpha}`, `smooth=${state.smooth ? 1 : 0}`];
    if (state.cls !== null) parts.push(`class=${state.cls}`);
    try { history.replaceState(null, '', '#' + parts.join('&')); } catch (e) { /* some browsers refuse on file:// */ }
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    apply({
      method: params.get('method'), layer: params.get('layer'), head: params.get('head'), token: params.get('token'),
      direction: params.get('dir'), colormap: params.get('cmap'), alpha: params.get('alpha'),
      smooth: params.get('smooth'), classIndex: params.get('class'),
    });
  }

  // Applies a partial state; layer and head are one-based as shown, head may be 'mean', 'max' or 'min'.
  function apply(s) {
    if (s.method != null && METHODS.includes(s.method)) state.method = s.method;
    if (s.layer != null && Number(s.layer) >= 1 && Number(s.layer) <= L) state.layer = Math.floor(Number(s.layer)) - 1;
    if (s.head != null) {
      if (FUSIONS.includes(s.head)) state.head = s.head;
      else if (Number(s.head) >= 1 && Number(s.head) <= H) state.head = Math.floor(Number(s.head)) - 1;
    }
    if (s.token != null && Number(s.token) >= 0 && Number(s.token) < T) { state.token = Math.floor(Number(s.token)); state.hover = null; }
    if (s.direction === 'row' || s.direction === 'column') state.direction = s.direction;
    if (s.colormap != null && COLORMAPS.includes(s.colormap)) state.colormap = s.colormap;
    if (s.alpha != null && s.alpha !== '' && Number(s.alpha) >= 0 && Number(s.alpha) <= 1) state.alpha = Number(s.alpha);
    if (s.smooth != null) state.smooth = s.smooth === true || s.smooth === '1' || s.smooth === 'true';
    if (s.classIndex != null && s.classIndex !== '' && Number.isInteger(Number(s.classIndex))) state.cls = Number(s.classIndex);
  }

  function stepHead(delta) {
    const i = HEAD_KEYS.indexOf(state.head);
    state.head = HEAD_KEYS[(i + delta + HEAD_KEYS.length) % HEAD_KEYS.length];
  }

  // The next class among the current method's class-specific maps (else among the predictions), from the one on show.
  function stepClass(delta) {
    const specific = libraryMaps(state.method).filter((m) => m.class !== null).map((m) => m.class);
    const list = specific.length > 0 ? specific : meta.predictions.map((p) => p.index);
    if (list.length === 0) return;
    const showing = specific.length > 0 ? libraryMap(state.method, state.cls).class : state.cls;
    const i = list.indexOf(showing);
    state.cls = list[i < 0 ? (delta > 0 ? 0 : list.length - 1) : (i + delta + list.length) % list.length];
  }

  function movePatch(dr, dc) {
    let t = state.token;
    if (t < P) t = P + ((GH >> 1) * GW) + (GW >> 1);
    else {
      const p = t - P;
      const r = clamp(Math.floor(p / GW) + dr, 0, GH - 1), c = clamp((p % GW) + dc, 0, GW - 1);
      t = P + r * GW + c;
    }
    state.token = t;
    state.hover = null;
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = e.target && e.target.tagName;
    if (tag === 'SELECT' || (tag === 'INPUT' && e.target.type === 'range' && e.key.startsWith('Arrow'))) return; // the control's own keys
    let handled = true;
    switch (e.key) {
      case 'ArrowUp': if (e.shiftKey) movePatch(-1, 0); else state.layer = Math.max(0, state.layer - 1); break;
      case 'ArrowDown': if (e.shiftKey) movePatch(1, 0); else state.layer = Math.min(L - 1, state.layer + 1); break;
      case 'ArrowLeft': if (e.shiftKey) movePatch(0, -1); else stepHead(-1); break;
      case 'ArrowRight': if (e.shiftKey) movePatch(0, 1); else stepHead(1); break;
      case 'm': case 'M': state.method = METHODS[(METHODS.indexOf(state.method) + (e.key === 'M' ? -1 : 1) + METHODS.length) % METHODS.length]; break;
      case 'd': case 'D': state.direction = state.direction === 'row' ? 'column' : 'row'; break;
      case 'c': case 'C': state.colormap = COLORMAPS[(COLORMAPS.indexOf(state.colormap) + (e.key === 'C' ? -1 : 1) + COLORMAPS.length) % COLORMAPS.length]; break;
      case '[': state.alpha = Math.max(0, Math.round((state.alpha - 0.05) * 100) / 100); break;
      case ']': state.alpha = Math.min(1, Math.round((state.alpha + 0.05) * 100) / 100); break;
      case 's': case 'S': state.smooth = !state.smooth; break;
      case ',': stepClass(-1); break;
      case '.': stepClass(1); break;
      case 'Escape': case 'Home': state.token = defaultToken; state.hover = null; break;
      case '?': $('help').open = !$('help').open; break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); render(); }
  }

  function canvasPoint(canvas, e) {
    const rect = canvas.getBoundingClientRect();
    return { x: (e.clientX - rect.left) * canvas.width / rect.width, y: (e.clientY - rect.top) * canvas.height / rect.height };
  }

  function patchAt(x, y) {
    const g = geometry;
    const col = Math.floor((x - g.offX) / g.extX * GW), row = Math.floor((y - g.offY) / g.extY * GH);
    if (col < 0 || row < 0 || col >= GW || row >= GH) return null;
    return { token: P + row * GW + col, index: row * GW + col };
  }

  function wire() {
    const main = $('main');
    main.addEventListener('mousemove', (e) => {
      const p = canvasPoint(main, e);
      const hit = patchAt(p.x, p.y);
      const library = isLibrary(state.method);
      const hover = hit && !library ? hit.token : null;
      cursorValue = hit && shown.map ? shown.map[hit.index] : null;
      if (hover !== state.hover) { state.hover = hover; schedule(); } else renderStatus(currentToken(), library);
    });
    main.addEventListener('mouseleave', () => { state.hover = null; cursorValue = null; schedule(); });
    main.addEventListener('click', (e) => {
      const p = canvasPoint(main, e);
      const hit = patchAt(p.x, p.y);
      if (!hit || isLibrary(state.method)) return;
      state.token = hit.token;
      render();
    });
    const grid = $('grid');
    grid.addEventListener('click', (e) => {
      flush();
      const p = canvasPoint(grid, e), at = gridCellAt(p.x, p.y);
      if (!at) return;
      gridLayout.cells.select(at.r, at.c);
      render();
    });
    grid.addEventListener('mousemove', (e) => {
      const p = canvasPoint(grid, e), at = gridCellAt(p.x, p.y);
      grid.title = at ? `${gridLayout.cells.rows[at.r]} ${gridLayout.cells.cols[at.c]}`.trim() : '';
    });
    const select = (id, fill) => { const s = $(id); fill(s); s.addEventListener('change', () => { s.blur(); }); return s; };
    select('method', (s) => METHODS.forEach((m) => s.appendChild(new Option(m === ATTENTION ? 'attention (one layer)' : m === ROLLOUT ? 'rollout from the token' : m + ' (library)', m))))
      .addEventListener('change', (e) => { state.method = e.target.value; render(); });
    select('layer', (s) => { for (let l = 0; l < L; l++) s.appendChild(new Option(`${l + 1} of ${L}`, String(l))); })
      .addEventListener('change', (e) => { state.layer = Number(e.target.value); render(); });
    select('head', (s) => HEAD_KEYS.forEach((k) => s.appendChild(new Option(typeof k === 'number' ? `${k + 1} of ${H}` : k + ' over heads', String(k)))))
      .addEventListener('change', (e) => { const v = e.target.value; state.head = FUSIONS.includes(v) ? v : Number(v); render(); });
    select('class', () => {}).addEventListener('change', (e) => { if (e.target.value !== '') state.cls = Number(e.target.value); render(); });
    select('colormap', (s) => COLORMAPS.forEach((c) => s.appendChild(new Option(c, c))))
      .addEventListener('change', (e) => { state.colormap = e.target.value; render(); });
    $('alpha').addEventListener('input', (e) => { state.alpha = Number(e.target.value); schedule(); });
    $('smooth').addEventListener('change', (e) => { state.smooth = e.target.checked; render(); });
    for (const input of document.querySelectorAll('input[name=direction]')) input.addEventListener('change', (e) => { state.direction = e.target.value; e.target.blur(); render(); });
    $('layer-prev').addEventListener('click', () => { state.layer = Math.max(0, state.layer - 1); render(); });
    $('layer-next').addEventListener('click', () => { state.layer = Math.min(L - 1, state.layer + 1); render(); });
    $('head-prev').addEventListener('click', () => { stepHead(-1); render(); });
    $('head-next').addEventListener('click', () => { stepHead(1); render(); });
    const list = $('predictions');
    for (const p of meta.predictions) {
      const li = document.createElement('li');
      li.dataset.index = String(p.index);
      li.title = `class ${p.index}; click to pick it for class-specific maps`;
      const pct = document.createElement('span'); pct.className = 'p'; pct.textContent = (100 * p.probability).toFixed(1) + '%';
      const bar = document.createElement('span'); bar.className = 'bar'; bar.style.width = (100 * p.probability).toFixed(1) + '%';
      li.append(pct, document.createTextNode(p.label), bar);
      li.addEventListener('click', () => { state.cls = p.index; render(); });
      list.appendChild(li);
    }
    document.addEventListener('keydown', onKey);
    window.addEventListener('hashchange', () => { readHash(); render(); });
  }

  // ---------- the API the tests (and curious users) read ----------

  api.state = function () {
    flush();
    const head = typeof state.head === 'number' ? state.head + 1 : state.head;
    return {
      method: state.method, direction: state.direction, layer: state.layer + 1, head,
      token: currentToken(), selectedToken: state.token, hoveredToken: state.hover, classIndex: state.cls,
      colormap: state.colormap, alpha: state.alpha, smooth: state.smooth,
      values: shown.values ? Array.from(shown.values) : null, map: Array.from(shown.map), min: shown.min, max: shown.max,
      renders: shown.renders, renderMs: shown.ms, gridMs: shown.gridMs, decodeMs: shown.decodeMs,
    };
  };
  api.set = function (s) { apply(s); render(); return api.state(); };
  // Client (CSS pixel) coordinates of a patch token's centre on the main picture.
  api.patchPoint = function (token) {
    if (!(token >= P && token < T)) return null; // prefix tokens have no place on the picture
    const r = patchRect(token), rect = $('main').getBoundingClientRect();
    return { x: rect.left + (r.x + r.w / 2) * rect.width / geometry.w, y: rect.top + (r.y + r.h / 2) * rect.height / geometry.h };
  };
  // Client coordinates of a grid cell's centre (row = layer index, col = head key index, zero-based).
  api.cellPoint = function (r, c) {
    flush();
    const g = gridLayout, rect = $('grid').getBoundingClientRect();
    const x = g.left + c * (g.thumbW + g.gap) + g.thumbW / 2, y = g.top + r * (g.thumbH + g.gap) + g.thumbH / 2;
    return { x: rect.left + x * rect.width / $('grid').width, y: rect.top + y * rect.height / $('grid').height };
  };
  // The patch values one thumbnail shows (row, col zero-based), as last drawn.
  api.thumbnail = function (r, c) { flush(); const v = shown.thumbs.get(r + ':' + c); return v ? Array.from(v) : null; };
  api.headKeys = HEAD_KEYS.map((k) => (typeof k === 'number' ? k + 1 : k));
  api.methods = METHODS;

  async function start() {
    $('title').textContent = meta.title;
    $('model').textContent = meta.model || '';
    $('footer').textContent = `${meta.generator}: ${L} layers × ${H} heads, ${T} tokens (${P} prefix: ${PREFIX.join(', ') || 'none'}; ${GH}×${GW} patches). Attention stored as ${meta.attention.encoding}.`;
    const img = $('vit-photo');
    if (!img.complete || img.naturalWidth === 0) await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = () => reject(new Error('The embedded photo cannot be decoded.')); });
    const started = performance.now();
    A = await decodeAttention();
    shown.decodeMs = performance.now() - started;
    layoutMain();
    wire();
    readHash();
    render();
    api.ready = true;
  }

  start().catch((e) => {
    api.error = String(e && e.message ? e.message : e);
    const box = $('error');
    box.textContent = 'The viewer could not start: ' + api.error;
    box.hidden = false;
  });
})();
