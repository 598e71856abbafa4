// Imported first by the command line: the native modules are loaded before any other module needs them, so that
// a module built for another Node.js ABI is one sentence, not a stack trace from deep inside start-up.
import { checkNativeModules } from './native-abi.js';

checkNativeModules();
