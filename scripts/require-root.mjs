// Integration tests create network namespaces, tunnel devices and nftables tables: they need root.
if (process.getuid && process.getuid() !== 0) {
  console.error('rustynet tests need root (network namespaces, TUN devices, nftables).');
  console.error('Run them as:  sudo npm test      (unit tests alone: npm run test:unit)');
  process.exit(1);
}
