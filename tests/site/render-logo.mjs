// Renders the site's logo (docs/site/img/logo.svg) to docs/site/img/logo.png (128 px) and docs/site/favicon.ico (an
// ICO holding a 32-px PNG), in headless Chromium (/usr/bin/chromium, or $CHROMIUM). Run it after changing the SVG:
//   node tests/site/render-logo.mjs
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const siteDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "site");
const svg = readFileSync(path.join(siteDir, "img", "logo.svg")).toString("base64");
const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
});
const page = await browser.newPage({ viewport: { width: 256, height: 256 } });

async function render(size) {
    await page.setContent(`<body style="margin:0;background:transparent">` +
        `<img src="data:image/svg+xml;base64,${svg}" width="${size}" height="${size}" style="display:block"></body>`);
    return page.screenshot({ omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } });
}

writeFileSync(path.join(siteDir, "img", "logo.png"), await render(128));
const png = await render(32);
// ICO: a 6-byte header (reserved 0, type 1 = icon, 1 image) and one 16-byte entry (32×32, 32 bits per pixel, the
// PNG's length and offset), then the PNG itself.
const header = Buffer.alloc(22);
header.writeUInt16LE(0, 0);
header.writeUInt16LE(1, 2);
header.writeUInt16LE(1, 4);
header.writeUInt8(32, 6);
header.writeUInt8(32, 7);
header.writeUInt16LE(1, 10);
header.writeUInt16LE(32, 12);
header.writeUInt32LE(png.length, 14);
header.writeUInt32LE(22, 18);
writeFileSync(path.join(siteDir, "favicon.ico"), Buffer.concat([header, png]));
await browser.close();
