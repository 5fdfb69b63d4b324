// Per-account "world": publishers, sub-publishers, offers, links, products.
// Derived from (seed, account name) so each account looks different but stable.
import { Rng, rngFor } from './prng.js';

export interface SubPublisher {
  id: string;
  name: string;
  url: string;
}
export interface Publisher {
  id: string;
  name: string;
  url: string;
  groupId: string;
  groupName: string;
  subs: SubPublisher[];
}
export interface Named {
  id: string;
  name: string;
}
export interface Universe {
  publishers: Publisher[];
  /** cumulative weights in (0,1], for skewed publisher picking */
  pubCum: Float64Array;
  offers: Named[];
  links: Named[];
  products: string[];
}

// Names chosen to break naive CSV handling: commas, quotes, non-ASCII, emoji, RTL, a newline.
const HOSTILE_PUBLISHERS = [
  'Café Ünïcode "Deals", Inc.',
  '日本のクーポン',
  'Smith, Jones & Co',
  '🔥 Hot Deals 🔥',
  'Mañana Ofertas, S.L.',
  'Доступные скидки',
  '"The" Coupon Site',
  'Straße & Söhne GmbH',
];
/** Appears in every account with a low weight: "once in a while" a row has a newline in a cell. */
const NEWLINE_PUBLISHER = 'Line One Media\nLine Two Rewards';
const OTHER_PUBLISHERS = [
  'Honeycomb Cashback',
  'Dealspotter',
  'Slick Savings LLC',
  'TopPerks',
  'Bargain Bunny 🐰',
  'São Paulo Cupons',
  'Ça Va Bien; Shopping',
  'Coupon Cabin, LLC',
  'Points & Miles Weekly',
  'Über Rewards',
  'Kölner Gutscheine',
  'Blog "Mom Saves" Daily',
  'Zürich Loyalty AG',
  'Čeština Slevy',
  'مكافآت الخليج',
  'Ελληνικές Προσφορές',
  '한국 할인',
  "Shop 'n' Save Network",
  'Cashback Kings, Ltd.',
  'Deal Digest',
  'Wallet-Wise',
  'Frugal Fox',
  'Savvy Shopper Network',
  'Brandstorm Influencers',
  'Loyalty Lane',
  'Campus Coupons',
  'Travel Points Hub',
  'GreenDeals.org',
  'Pennywise Media',
  'The Thrifty Nest',
  'Giftcard Garden',
  'Student Saver',
  'Mobile Rewards Inc.',
];
const GROUPS = ['Coupon & Deals', 'Loyalty, Cashback', 'Content/Blog', 'Sub-Network', 'Social "Influencer"'];
const OFFERS = [
  'Default Offer',
  'Spring Sale – 20% off',
  'Free Shipping, Orders $50+',
  '"Best Price" Guarantee',
  'Loyalty Bonus 5%',
  'Back to School',
  'Black Friday / Cyber Monday',
  'Nouveautés été',
  'New Customer Offer',
  'Clearance, Up to 70%',
  'App Install Bonus',
  'Holiday Gift Guide 🎁',
];
const LINK_KINDS = [
  'Homepage Text Link',
  'Banner 300x250',
  'Banner 728x90',
  'Product Feed Link',
  'Deep Link: "Shop Now"',
  'Logo, 120x60',
  'Email – Newsletter',
  'Search Box',
  'Category Page',
  'Coupon Code Link',
];
const PRODUCTS = [
  'Widget, Large',
  'Écharpe en laine',
  '"Pro" Headphones',
  '日本茶セット',
  "Running Shoes (Men's)",
  'Gift Card $50',
  'Desk Lamp',
  'Yoga Mat, 6mm',
  'Kaffeemühle',
  'Phone Case 📱',
];

function slug(name: string, fallback: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase();
  return s.length >= 3 ? s : fallback;
}

function uniqueIds(rng: Rng, n: number, lo: number, hi: number): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  while (out.length < n) {
    const v = rng.range(lo, hi);
    if (!seen.has(v)) {
      seen.add(v);
      out.push(String(v));
    }
  }
  return out;
}

function buildUniverse(seed: number, account: string): Universe {
  const rng = rngFor(seed, 'universe', account);
  const names = [...HOSTILE_PUBLISHERS, ...rng.shuffle(OTHER_PUBLISHERS).slice(0, 21), NEWLINE_PUBLISHER];
  const ordered = rng.shuffle(names);
  const pubIds = uniqueIds(rng, ordered.length, 2_000_000, 9_999_999);
  const groupBase = rng.range(100, 900) * 10;
  const publishers: Publisher[] = ordered.map((name, i) => {
    const id = pubIds[i] as string;
    const g = rng.int(GROUPS.length);
    const s = slug(name, `pub${id}`);
    const subCount = rng.chance(0.5) ? rng.range(1, 4) : 0;
    const subs: SubPublisher[] = [];
    for (let k = 0; k < subCount; k++) {
      const subId = String(rng.range(10_000, 99_999));
      subs.push({
        id: subId,
        name: k === 1 ? `${name} – Sub, ${k}` : `${s} sub ${k + 1}`,
        // Some URLs carry commas in the query string.
        url: k === 0 ? `https://${s}.example.com/s/${subId}` : `https://${s}.example.com/?src=a,b&sub=${subId}`,
      });
    }
    return {
      id,
      name,
      url: `https://www.${s}.example.com/`,
      groupId: String(groupBase + g),
      groupName: GROUPS[g] as string,
      subs,
    };
  });
  // Zipf-ish weights: a few big publishers dominate; the newline one is rare.
  const weights = ordered.map((name, i) => (name === NEWLINE_PUBLISHER ? 0.05 : 1 / Math.pow(i + 1, 0.8)));
  const sum = weights.reduce((a, b) => a + b, 0);
  const pubCum = new Float64Array(weights.length);
  let acc = 0;
  weights.forEach((w, i) => {
    acc += w / sum;
    pubCum[i] = acc;
  });
  pubCum[pubCum.length - 1] = 1;

  const offerNames = rng.shuffle(OFFERS).slice(0, 10);
  const offerIds = uniqueIds(rng, offerNames.length, 100_000, 999_999);
  const offers = offerNames.map((name, i) => ({ id: offerIds[i] as string, name }));
  const linkIds = uniqueIds(rng, 20, 100_000_000, 999_999_999);
  const links = linkIds.map((id, i) => ({
    id,
    name: `${LINK_KINDS[i % LINK_KINDS.length]}${i >= LINK_KINDS.length ? ' (v2)' : ''}`,
  }));
  return { publishers, pubCum, offers, links, products: PRODUCTS.slice() };
}

const cache = new Map<string, Universe>();
export function universeFor(seed: number, account: string): Universe {
  const key = `${seed}|${account}`;
  let u = cache.get(key);
  if (!u) {
    u = buildUniverse(seed, account);
    cache.set(key, u);
  }
  return u;
}
