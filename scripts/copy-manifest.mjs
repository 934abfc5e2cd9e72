// The client preset writes its manifest beside the typed documents; the server and partners read
// it at operations/persisted-documents.json.
import { copyFileSync } from 'node:fs';
copyFileSync('operations/generated/persisted-documents.json', 'operations/persisted-documents.json');
