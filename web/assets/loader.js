// Loads the dashboard's wasm bundle and hydrates the islands of the page. Pages are complete
// without it; the islands add live updates. `window.slipwayHydrate` hydrates islands that
// arrive later (when a live island swaps in a fresh copy of the page's main content).
import init, * as bundle from "./slipway_web.js";

function hydrateIslands(root) {
  for (const island of root.querySelectorAll("leptos-island")) {
    if (island.dataset.hydrated) continue;
    const hydrate = bundle[island.dataset.component];
    if (typeof hydrate === "function") {
      island.dataset.hydrated = "yes";
      hydrate(island);
    } else {
      console.warn(`slipway: the bundle has no island named ${island.dataset.component}`);
    }
  }
}

await init({ module_or_path: new URL("./slipway_web_bg.wasm", import.meta.url) });
bundle.start();
window.slipwayHydrate = hydrateIslands;
hydrateIslands(document.body);
