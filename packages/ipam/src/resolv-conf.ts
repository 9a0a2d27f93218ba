/** DNS settings read from a resolv.conf, in the CNI result's `dns` shape. */
export interface ResolvConfDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** Parses resolv.conf text (`nameserver`, `domain`, `search`, `options` lines). Pure. */
export function parseResolvConf(text: string): ResolvConfDns {
  const dns: ResolvConfDns = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [key, ...values] = line.split(/\s+/);
    if (values.length === 0) continue;
    if (key === 'nameserver') (dns.nameservers ??= []).push(values[0]!);
    else if (key === 'domain') dns.domain = values[0]!;
    else if (key === 'search') dns.search = values;
    else if (key === 'options') (dns.options ??= []).push(...values);
  }
  return dns;
}
