/** Zone updates of a running server: records swapped in place, bad data refused, duplicate names. */
import { expect } from 'chai';
import { data, expectCode, query, startServer } from './helpers.js';

describe('dns-magic update', () => {
  it('swaps the records without restart; the SOA serial increases', async () => {
    const s = await startServer();
    try {
      const serial1 = s.plugin.zoneInfo().serial;
      expect(data(await query(s.port, 'b.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.2']);
      await s.plugin.update({
        zone: 'rustynet',
        nodes: [
          { id: 'b', name: 'b', addresses: ['100.64.9.9'] },
          { id: 'd', name: 'delta', addresses: ['100.64.0.4'] },
        ],
      });
      expect(s.plugin.listening()[0].port).to.equal(s.port);
      expect(data(await query(s.port, 'b.rustynet', 'A'), 'A')).to.deep.equal(['100.64.9.9']);
      expect(data(await query(s.port, 'delta.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.4']);
      expect((await query(s.port, 'alpha.rustynet', 'A')).rcode).to.equal('NXDOMAIN');
      expect(s.plugin.zoneInfo().serial).to.be.greaterThan(serial1);
      // A new zone apex.
      await s.plugin.update({ zone: 'Corp.Mesh.', nodes: [{ id: 'b', name: 'b', addresses: ['100.64.9.9'] }] });
      expect(data(await query(s.port, 'b.corp.mesh', 'A'), 'A')).to.deep.equal(['100.64.9.9']);
      expect((await query(s.port, 'b.rustynet', 'A')).rcode).to.equal('REFUSED');
    } finally {
      await s.plugin.stop();
    }
  });

  it('rejects invalid data with INVALID_INPUT naming the field, and keeps serving the old data', async () => {
    const s = await startServer();
    try {
      const serial = s.plugin.zoneInfo().serial;
      const ok = { id: 'e', name: 'e', addresses: ['100.64.0.5'] };
      const cases: Array<[unknown, string]> = [
        [{ zone: 'bad_zone', nodes: [] }, 'zone'],
        [{ zone: '', nodes: [] }, 'zone'],
        [{ zone: 'rustynet', nodes: 'x' }, 'nodes'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'Bad', name: 'x', addresses: [] }] }, 'nodes[1].id'],
        [{ zone: 'rustynet', nodes: [ok, { ...ok }] }, 'nodes[1].id'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'f', name: 'no.dots', addresses: [] }] }, 'nodes[1].name'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'f', name: 'f', addresses: ['100.64.0.6', '100.64.0.7/32'] }] }, 'nodes[1].addresses[1]'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'f', name: 'f', addresses: ['fe80::1%eth0'] }] }, 'nodes[1].addresses[0]'],
      ];
      for (const [zone, field] of cases) {
        await expectCode(s.plugin.update(zone as never), 'INVALID_INPUT', field);
      }
      expect(s.plugin.zoneInfo().serial).to.equal(serial);
      expect(data(await query(s.port, 'alpha.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.1']);
      expect((await query(s.port, 'e.rustynet', 'A')).rcode).to.equal('NXDOMAIN');
    } finally {
      await s.plugin.stop();
    }
  });

  it('duplicate names: ids always win; otherwise the smallest node id gets the name', async () => {
    const s = await startServer(
      {},
      {
        zone: 'rustynet',
        nodes: [
          { id: 'n3', name: 'web', addresses: ['100.64.0.33'] },
          { id: 'n1', name: 'Web', addresses: ['100.64.0.11'] },
          { id: 'n2', name: 'web', addresses: ['100.64.0.22'] },
          { id: 'db', name: 'db', addresses: ['100.64.0.44'] },
          { id: 'x9', name: 'db', addresses: ['100.64.0.99'] },
          { id: 'x8', name: 'n2', addresses: ['100.64.0.88'] },
        ],
      },
    );
    try {
      expect(data(await query(s.port, 'web.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.11']);
      for (const [id, ip] of [
        ['n1', '100.64.0.11'],
        ['n2', '100.64.0.22'],
        ['n3', '100.64.0.33'],
        ['x9', '100.64.0.99'],
        ['x8', '100.64.0.88'],
      ]) {
        expect(data(await query(s.port, `${id}.rustynet`, 'A'), 'A'), id).to.deep.equal([ip]);
      }
      // "db" is node db's id: x9's name "db" does not shadow it. "n2" is an id: x8's name loses.
      expect(data(await query(s.port, 'db.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.44']);
      // Order of the input does not matter.
      await s.plugin.update({
        zone: 'rustynet',
        nodes: [
          { id: 'n2', name: 'web', addresses: ['100.64.0.22'] },
          { id: 'n1', name: 'web', addresses: ['100.64.0.11'] },
        ],
      });
      expect(data(await query(s.port, 'web.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.11']);
    } finally {
      await s.plugin.stop();
    }
  });
});
