/** Protocol id: the key under which nodes carry this backend's public key in the netmap. Keep equal to `backend.protocol` in rustynet-plugin.json. */
export const PROTOCOL = 'fastd';
