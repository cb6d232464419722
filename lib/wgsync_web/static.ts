/**
 * The site's static files, taken into the module graph as text (no read
 * permission, no build step): its own script and style sheet, and uPlot's
 * browser build and style sheet from the npm package's own files (never a
 * CDN).
 *
 * @module
 */
import appJs from "./static/app.js" with { type: "text" };
import siteCss from "./static/site.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** A static file's body and content type. */
export interface StaticFile {
  body: string;
  type: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** The files under `/static/`, by name. */
export const STATIC_FILES: ReadonlyMap<string, StaticFile> = new Map([
  ["app.js", { body: appJs, type: JS }],
  ["site.css", { body: siteCss, type: CSS }],
  ["uPlot.iife.min.js", { body: uplotJs, type: JS }],
  ["uPlot.min.css", { body: uplotCss, type: CSS }],
]);
