from gateway.models import Base
from gateway.settings import Settings

from services import migrations

migrations.run(Base.metadata, Settings().database_url)
