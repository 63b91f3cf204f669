/** exchangeIntegration: an integration API key for a 20-second JWT (aud `integration`). */
import { http } from '@google-cloud/functions-framework';
import { runtime } from '../../shared/exchange/wiring';

http('exchangeIntegration', runtime().exchangeHandler('exchangeIntegration', 'integration'));
