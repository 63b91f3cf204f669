/** jwks: the public signing keys, for verifiers to check tokens with. */
import { http } from '@google-cloud/functions-framework';
import { runtime } from '../../shared/runtime';

http('jwks', runtime().jwksHandler('jwks'));
