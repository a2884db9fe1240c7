/**
 * Every relative link in README.md and docs/ resolves: the file exists, and a `#fragment`
 * names a heading of the target as GitHub renders it (lower case, punctuation dropped, spaces
 * as hyphens). The docs ship in the npm tarball, so a broken link reaches users.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PAGES = ['README.md', 'CHANGELOG.md', ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter(
  (f) => f.endsWith('.md'),
);

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1])));
}

test('every relative link in README.md and docs/ resolves, anchors included', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    const text = fs.readFileSync(path.join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
      checked += 1;
      const [file, fragment] = target.split('#');
      const resolved = file === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), file);
      if (!fs.existsSync(resolved)) broken.push(`${page}: ${target} (no such file)`);
      else if (fragment && resolved.endsWith('.md') && !anchors(resolved).has(fragment))
        broken.push(`${page}: ${target} (no such heading)`);
    }
  }
  assert.ok(PAGES.length > 5 && checked > 20, `${checked} links checked in ${PAGES.join(', ')}`);
  assert.deepEqual(broken, []);
});
