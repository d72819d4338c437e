import { expect } from 'chai';
import { parsePromText } from '../src/prom-text.js';

describe('rustynet metrics: Prometheus text parsing', () => {
  it('groups samples into families with HELP/TYPE, labels (escapes) and histogram parts', () => {
    const text = [
      '# HELP rustynet_peers Peers configured on the backend',
      '# TYPE rustynet_peers gauge',
      'rustynet_peers 2',
      '# HELP rustynet_peer_rx_bytes Bytes received',
      '# TYPE rustynet_peer_rx_bytes gauge',
      'rustynet_peer_rx_bytes{peer="a"} 10',
      'rustynet_peer_rx_bytes{peer="we\\"ird\\\\n",x="1"} 11',
      '# TYPE rustynet_apply_duration_seconds histogram',
      'rustynet_apply_duration_seconds_bucket{le="0.1"} 3',
      'rustynet_apply_duration_seconds_bucket{le="+Inf"} 4',
      'rustynet_apply_duration_seconds_sum 0.25',
      'rustynet_apply_duration_seconds_count 4',
      'untyped_thing NaN',
      'garbage line {',
      '',
    ].join('\n');
    const f = parsePromText(text);
    expect(f.map((x) => [x.name, x.type, x.samples.length])).to.deep.equal([
      ['rustynet_peers', 'gauge', 1],
      ['rustynet_peer_rx_bytes', 'gauge', 2],
      ['rustynet_apply_duration_seconds', 'histogram', 4],
      ['untyped_thing', 'untyped', 1],
    ]);
    expect(f[0]?.help).to.equal('Peers configured on the backend');
    expect(f[1]?.samples[1]).to.deep.equal({ name: 'rustynet_peer_rx_bytes', labels: { peer: 'we"ird\\n', x: '1' }, value: 11 });
    expect(f[2]?.samples[1]?.labels).to.deep.equal({ le: '+Inf' });
    expect(f[3]?.samples[0]?.value).to.equal('NaN');
  });
});
