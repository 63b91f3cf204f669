/** jwks: the public signing keys, for verifiers to check tokens with. */
import { http } from '@google-cloud/functions-framework';
import { runtime } from '../../shared/exchange/wiring';

http('jwks', runtime().jwksHandler('jwks'));
