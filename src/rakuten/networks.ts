/**
 * Rakuten Advertising's networks, as the `network` parameter of a "Get API" URL names them, and
 * the currency each one reports in: a connector's currency defaults to its network's, so a UK
 * account's amounts are pounds without the user saying so. A network not listed here (or a URL
 * without `network`) has no default: the web form asks, the CLI takes USD and says so.
 */
export const NETWORKS: Readonly<Record<string, { region: string; currency: string }>> = {
  '1': { region: 'US', currency: 'USD' },
  '3': { region: 'UK', currency: 'GBP' },
  '5': { region: 'CA', currency: 'CAD' },
  '7': { region: 'FR', currency: 'EUR' },
  '9': { region: 'DE', currency: 'EUR' },
  '41': { region: 'AU', currency: 'AUD' },
};

/** The currency of a network (the URL's `network`), or undefined when it is not a known one. */
export function networkCurrency(network: string | undefined): string | undefined {
  return network === undefined ? undefined : NETWORKS[network.trim()]?.currency;
}
