import { STORE_KINDS } from './helpers.js';
import { storeContract } from './store.contract.js';

for (const kind of STORE_KINDS) storeContract(kind);
