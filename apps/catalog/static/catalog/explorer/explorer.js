/* The entity page's graph explorer: Cytoscape.js (vendored) over the graph the page
 * embeds (#explorer-graph), with pan and zoom, a click to open an entity or expand its
 * neighbours, and the depth / direction / relationship controls answered in place.
 * Without scripts the page keeps its server-drawn picture and the controls reload it.
 * The canvas' data-state says what it is doing ("loading", "ready", "error"), so a
 * person or a test can wait for it. */
(function () {
  "use strict";
  var canvas = document.getElementById("explorer-canvas");
  var documentNode = document.getElementById("explorer-graph");
  if (!canvas || !documentNode || typeof window.cytoscape !== "function") {
    return; // the static picture stays
  }
  var graph = JSON.parse(documentNode.textContent);
  var controls = document.getElementById("explorer-controls");
  var layoutChoice = document.getElementById("explorer-layout");
  var panel = document.getElementById("explorer-panel");
  var selected = null;

  document.querySelectorAll(".explorer-script-only").forEach(function (el) {
    el.hidden = false;
  });
  canvas.innerHTML = "";
  canvas.classList.add("explorer-live");

  // One colour per entity type, the same on every page: types tell apart at a glance
  // even when the graph is too large for its labels.
  var PALETTE = ["#93c5fd", "#fca5a5", "#86efac", "#fcd34d", "#c4b5fd", "#f9a8d4",
                 "#67e8f9", "#fdba74", "#a5b4fc", "#bef264"];
  function colourOf(type) {
    var hash = 0;
    for (var i = 0; i < type.length; i++) { hash = (hash * 31 + type.charCodeAt(i)) >>> 0; }
    return PALETTE[hash % PALETTE.length];
  }

  function elementsOf(doc, depthOffset) {
    var elements = [];
    doc.nodes.forEach(function (n) {
      elements.push({
        group: "nodes",
        data: {
          id: n.id, label: (n.name || n.entity_id) + "\n" + n.type, name: n.name,
          type: n.type, entityId: n.entity_id, depth: n.depth + depthOffset,
          url: n.url, source: n.source, version: n.version, resolved: n.resolved,
          colour: colourOf(n.type)
        },
        classes: [n.root && depthOffset === 0 ? "root" : "", n.resolved ? "" : "unresolved"]
          .join(" ").trim()
      });
    });
    doc.edges.forEach(function (e) {
      elements.push({
        group: "edges",
        data: { id: "e" + e.id, source: e.source, target: e.target, label: e.label,
                url: e.url, origin: e.origin },
        classes: e.origin === "manual" ? "manual" : ""
      });
    });
    return elements;
  }

  var cy = window.cytoscape({
    container: canvas,
    elements: elementsOf(graph, 0),
    wheelSensitivity: 0.3,
    minZoom: 0.05,
    maxZoom: 4,
    style: [
      { selector: "node", style: {
        "shape": "ellipse", "width": 22, "height": 22, "background-color": "data(colour)",
        "border-width": 1, "border-color": "#334155",
        "label": "data(label)", "text-wrap": "wrap", "text-max-width": 130,
        "text-valign": "bottom", "text-margin-y": 4, "font-size": 10,
        "text-background-color": "#ffffff", "text-background-opacity": 0.7,
        "min-zoomed-font-size": 6 } },
      { selector: "node.root", style: { "width": 34, "height": 34, "border-width": 3,
                                        "font-weight": "bold" } },
      { selector: "node.unresolved", style: { "border-style": "dashed",
                                              "background-opacity": 0.35 } },
      { selector: "node:selected", style: { "border-color": "#2563eb", "border-width": 4 } },
      { selector: "edge", style: {
        "width": 1.2, "line-color": "#94a3b8", "target-arrow-color": "#94a3b8",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(label)",
        "font-size": 8, "text-rotation": "autorotate", "min-zoomed-font-size": 8,
        "text-background-color": "#ffffff", "text-background-opacity": 0.8 } },
      { selector: "edge.manual", style: {
        "line-color": "#b45309", "target-arrow-color": "#b45309", "color": "#b45309" } }
    ]
  });
  window.dictameshExplorer = cy; // for a curator's console, and the browser test

  function setState(state, message) {
    canvas.dataset.state = state;
    canvas.title = message || "";
  }

  // Rings by distance read best while each ring has room for its labels; past that a
  // force-directed layout keeps neighbours together.
  var RINGS_UP_TO = 60;

  function runLayout() {
    var name = layoutChoice ? layoutChoice.value : "auto";
    if (name === "auto") { name = cy.nodes().length <= RINGS_UP_TO ? "concentric" : "cose"; }
    var options = { name: name, animate: false, fit: true, padding: 20 };
    if (name === "concentric") {
      var deepest = 0;
      cy.nodes().forEach(function (n) { deepest = Math.max(deepest, n.data("depth")); });
      options.concentric = function (n) { return deepest - n.data("depth"); };
      options.levelWidth = function () { return 1; };
      options.minNodeSpacing = 40;
    } else if (name === "breadthfirst") {
      options.roots = cy.nodes(".root");
      options.directed = false;
      options.spacingFactor = 1.1;
    } else {
      options.nodeRepulsion = function () { return 20000; };
      options.idealEdgeLength = function () { return 90; };
      options.nodeDimensionsIncludeLabels = true;
      options.randomize = false;
    }
    setState("loading");
    var layout = cy.layout(options);
    layout.one("layoutstop", function () { setState("ready"); });
    layout.run();
  }

  function params(depth, forEntity) {
    var query = new URLSearchParams();
    query.set("type", forEntity.type);
    query.set("id", forEntity.entityId);
    query.set("depth", String(depth));
    query.set("direction", controls.elements.direction.value);
    var types = [];
    controls.querySelectorAll("input[name=types]:checked").forEach(function (box) {
      types.push(box.value);
    });
    query.set("types", types.join(","));
    return query;
  }

  function load(query) {
    setState("loading");
    return fetch(canvas.dataset.graphUrl + "?" + query.toString(), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || response.statusText); }
        return body;
      });
    });
  }

  function failed(error) {
    setState("error", String(error.message || error));
    showMessage(String(error.message || error));
  }

  function showMessage(text) {
    panel.hidden = false;
    document.getElementById("explorer-panel-name").textContent = text;
    document.getElementById("explorer-panel-key").textContent = "";
    document.getElementById("explorer-panel-detail").textContent = "";
    document.getElementById("explorer-open").hidden = true;
    document.getElementById("explorer-expand").hidden = true;
  }

  function select(node) {
    selected = node;
    panel.hidden = false;
    var data = node.data();
    document.getElementById("explorer-panel-name").textContent = data.name || data.entityId;
    document.getElementById("explorer-panel-key").textContent = data.id;
    document.getElementById("explorer-panel-detail").textContent = data.resolved
      ? [data.source, data.version].filter(Boolean).join(", ")
      : "not in the catalog yet";
    var open = document.getElementById("explorer-open");
    open.hidden = !data.url;
    open.href = data.url || "#";
    document.getElementById("explorer-expand").hidden = false;
  }

  function expand(node) {
    var root = cy.nodes(".root");
    load(params(1, node.data())).then(function (doc) {
      var offset = node.data("depth");
      var added = elementsOf(doc, offset).filter(function (el) {
        return cy.getElementById(el.data.id).empty();
      });
      cy.add(added);
      root.addClass("root");
      runLayout();
    }).catch(failed);
  }

  cy.on("tap", "node", function (event) { select(event.target); });
  cy.on("dbltap", "node", function (event) { expand(event.target); });
  document.getElementById("explorer-expand").addEventListener("click", function () {
    if (selected) { expand(selected); }
  });
  document.getElementById("explorer-fit").addEventListener("click", function () { cy.fit(); });
  if (layoutChoice) { layoutChoice.addEventListener("change", runLayout); }
  controls.addEventListener("submit", function (event) {
    event.preventDefault();
    var root = cy.nodes(".root").data();
    var query = params(controls.elements.depth.value, root);
    load(query).then(function (doc) {
      cy.elements().remove();
      cy.add(elementsOf(doc, 0));
      panel.hidden = true;
      var address = new URLSearchParams(query);
      address.delete("type");
      address.delete("id");
      window.history.replaceState(null, "", "?" + address.toString() + "#explorer");
      runLayout();
    }).catch(failed);
  });
  runLayout();
})();
