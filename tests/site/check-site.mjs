// Checks the documentation site that `dotnet fsi build.fsx docs` writes to output/, as a reader's browser sees it.
//
//   node tests/site/check-site.mjs <site folder> <tutorial page>... [--break-link]
//
// 1. Serves the folder over HTTP on 127.0.0.1 (a free port) from this process.
// 2. Link check: every local href and src of every HTML page (anything that is not an external address, a data: URI
//    or a fragment of the same page) must be served with status 200; no page may carry an unfilled {{...}} parameter.
// 3. In headless Chromium (/usr/bin/chromium, or $CHROMIUM, driven by playwright-core, with a fresh profile): the
//    index and every tutorial page given must load with no local request failing, with fsdocs' and Imle's stylesheets
//    applied (the body is fsdocs' grid, Imle's --main-menu-width is set), the logo loaded and, on a tutorial, the
//    output of its evaluated snippets present. The index is also opened from disk (file://) and must be styled.
//
// --break-link serves index.html with one more link, to a page that does not exist: the check must then fail (the
// build runs it both ways, so that a check that cannot fail is caught).
//
// Prints one line per problem and a closing summary; exits with 1 when there is a problem, 2 on a usage error.
import { createServer } from "node:http";
import { readFile, readdir, stat } from "node:fs/promises";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const args = process.argv.slice(2);
const breakLink = args.includes("--break-link");
const [siteArg, ...tutorials] = args.filter(a => a !== "--break-link");

if (!siteArg || !existsSync(path.join(siteArg, "index.html"))) {
    console.error("usage: node check-site.mjs <site folder with index.html> <tutorial page>... [--break-link]");
    process.exit(2);
}

const site = path.resolve(siteArg);
const brokenTarget = "no-such-page-broken-on-purpose.html";
const problems = [];
const problem = text => {
    problems.push(text);
    console.log(`site-check: ${text}`);
};

const types = {
    ".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript", ".json": "application/json",
    ".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".ipynb": "application/x-ipynb+json",
    ".fsx": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8"
};

/** The file a URL path names under the site folder (a folder's index.html), or null outside it or when absent. */
async function fileOf(urlPath) {
    let relative;
    try {
        relative = decodeURIComponent(urlPath.split("?")[0].split("#")[0]);
    } catch {
        return null;
    }
    const file = path.join(site, relative);
    if (file !== site && !file.startsWith(site + path.sep)) return null;
    try {
        const info = await stat(file);
        if (info.isDirectory()) return (await stat(path.join(file, "index.html")).catch(() => null)) ? path.join(file, "index.html") : null;
        return file;
    } catch {
        return null;
    }
}

const server = createServer(async (request, response) => {
    const file = await fileOf(new URL(request.url, "http://127.0.0.1").pathname);
    if (!file) {
        response.writeHead(404, { "content-type": "text/plain" });
        response.end("not found");
        return;
    }
    let body = await readFile(file);
    if (breakLink && file === path.join(site, "index.html")) {
        body = Buffer.from(body.toString("utf8").replace("</main>", `<p><a href="${brokenTarget}">broken</a></p></main>`));
    }
    response.writeHead(200, { "content-type": types[path.extname(file).toLowerCase()] ?? "application/octet-stream" });
    response.end(body);
});
await new Promise(resolve => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${server.address().port}/`;

async function htmlFiles(folder) {
    const found = [];
    for (const entry of await readdir(folder, { withFileTypes: true })) {
        const full = path.join(folder, entry.name);
        if (entry.isDirectory()) found.push(...await htmlFiles(full));
        else if (entry.name.endsWith(".html")) found.push(full);
    }
    return found;
}

/** Local addresses a page refers to: href and src attributes that are not external, data:, javascript: or fragments. */
function localReferences(html) {
    const references = [];
    for (const match of html.matchAll(/\s(?:href|src)\s*=\s*("([^"]*)"|'([^']*)')/gi)) {
        const value = (match[2] ?? match[3] ?? "").trim();
        if (value === "" || value.startsWith("#") || /^[a-z][a-z0-9+.-]*:/i.test(value) || value.startsWith("//")) continue;
        references.push(value);
    }
    return references;
}

// ----- 2. links over every page -----------------------------------------------------------------------------------
const pages = await htmlFiles(site);
const status = new Map();
let links = 0;
for (const file of pages) {
    const pagePath = path.relative(site, file).split(path.sep).join("/");
    let html = (await readFile(file)).toString("utf8");
    if (breakLink && pagePath === "index.html") html += `<a href="${brokenTarget}">broken</a>`;
    const unfilled = html.match(/\{\{[a-z-]+\}\}/);
    if (unfilled) problem(`${pagePath}: unfilled template parameter ${unfilled[0]}`);
    for (const reference of localReferences(html)) {
        const target = new URL(reference, new URL(pagePath, base));
        target.hash = "";
        const key = target.href;
        links += 1;
        if (!status.has(key)) {
            status.set(key, (await fileOf(target.pathname)) ? 200 : 404);
        }
        if (status.get(key) !== 200) problem(`${pagePath}: link ${reference} -> ${status.get(key)}`);
    }
}

// ----- 3. pages in Chromium -----------------------------------------------------------------------------------------
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const profile = mkdtempSync(path.join(tmpdir(), "imle-site-check-"));
const browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
});

/** Loads one page and returns what the checks need; local requests that fail or answer >= 400 are problems. */
async function inspect(url, name) {
    const page = await browser.newPage();
    const failed = [];
    const isLocal = u => u.startsWith(base) || u.startsWith("file:");
    // From disk, Chromium refuses ES-module scripts by design (a file:// page has no origin); fsdocs' module scripts
    // (search, theme toggle, tooltips) import from CDNs anyway. Styles and pictures must still load.
    const refusedOnDisk = u => u.startsWith("file:") && u.endsWith(".js");
    page.on("response", r => { if (isLocal(r.url()) && r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
    page.on("requestfailed", r => { if (isLocal(r.url()) && !refusedOnDisk(r.url())) failed.push(`failed ${r.url()}`); });
    await page.goto(url, { waitUntil: "load", timeout: 60000 });
    const facts = await page.evaluate(() => {
        const logo = document.querySelector("header img");
        const outputs = document.querySelectorAll("#content .fsdocs-output, #content table.pre pre, #content img[src^='data:image/png']");
        return {
            bodyDisplay: getComputedStyle(document.body).display,
            menuWidth: getComputedStyle(document.documentElement).getPropertyValue("--main-menu-width").trim(),
            font: getComputedStyle(document.body).fontFamily,
            logo: logo ? logo.complete && logo.naturalWidth > 0 : false,
            title: document.title,
            outputText: [...document.querySelectorAll("#content table.pre pre, #content .fsdocs-output")]
                .map(e => e.textContent.trim()).filter(t => t.length > 0).length,
            outputs: outputs.length,
            headings: document.querySelectorAll("#content h1").length
        };
    });
    await page.close();
    for (const f of failed) problem(`${name}: ${f}`);
    if (facts.bodyDisplay !== "grid") problem(`${name}: fsdocs' stylesheet not applied (body display ${facts.bodyDisplay})`);
    if (facts.menuWidth !== "230px") problem(`${name}: Imle's stylesheet not applied (--main-menu-width '${facts.menuWidth}')`);
    if (!facts.logo) problem(`${name}: the logo did not load`);
    if (facts.headings < 1) problem(`${name}: no heading in the content`);
    return facts;
}

await inspect(base + "index.html", "index.html");
await inspect(pathToFileURL(path.join(site, "index.html")).href, "index.html from disk");
for (const tutorial of tutorials) {
    const name = `${tutorial}.html`;
    if (!existsSync(path.join(site, name))) {
        problem(`${name}: not in the site`);
        continue;
    }
    const facts = await inspect(base + name, name);
    if (facts.outputText + facts.outputs === 0) problem(`${name}: no output of its evaluated snippets`);
    const notebookFile = path.join(site, `${tutorial}.ipynb`);
    let notebookNote = "no notebook";
    if (!existsSync(notebookFile)) {
        problem(`${tutorial}.ipynb: no notebook beside the page`);
    } else {
        // A page with F# install lines: its notebook's first code cell must be those lines, as plain F#.
        const html = (await readFile(path.join(site, name))).toString("utf8");
        const cells = JSON.parse((await readFile(notebookFile)).toString("utf8")).cells ?? [];
        const firstCode = cells.find(c => c.cell_type === "code");
        const firstSource = firstCode ? [].concat(firstCode.source).join("") : "";
        if (html.includes("nuget: Imle.FSharp") && !firstSource.startsWith("#i \"nuget:")) {
            problem(`${tutorial}.ipynb: the first code cell is not the install lines: ${firstSource.slice(0, 60)}`);
        }
        notebookNote = `notebook of ${cells.length} cells`;
    }
    console.log(`site-check: ${name}: body ${facts.bodyDisplay}, logo ${facts.logo ? "loaded" : "MISSING"}, ` +
        `${facts.outputText} output blocks, ${facts.outputs - facts.outputText} plots and other outputs, ${notebookNote}`);
}
await browser.close();
rmSync(profile, { recursive: true, force: true });
server.close();

console.log(`site-check: ${pages.length} pages, ${links} local links (${status.size} distinct), ` +
    `${tutorials.length + 2} page loads in Chromium: ${problems.length === 0 ? "no problems" : problems.length + " problems"}`);
process.exit(problems.length === 0 ? 0 : 1);
