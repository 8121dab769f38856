from payment.models import Base
from payment.settings import Settings

from services import migrations

migrations.run(Base.metadata, Settings().database_url)
